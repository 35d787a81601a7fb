"""One audience vocabulary (accounts/roles.py): every set of roles a route declares or an object check reads is
defined there once, so "the vendor's writers" means the same two roles everywhere (it once meant three roles in
one module and two in another)."""

from __future__ import annotations

import ast
from pathlib import Path

from marketplace.accounts import roles
from marketplace.accounts.roles import Role

ROOT = Path(__file__).resolve().parents[2] / "marketplace"
# Demo users are given their roles there: data, not an audience.
DATA = {ROOT / "accounts" / "roles.py", ROOT / "accounts" / "demo.py"}


def _is_role(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "value":  # Role.X.value
        node = node.value
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Role"


def role_sets(source: str) -> list[int]:
    """Lines where a tuple, list or set literal, or a call's arguments, name two roles or more."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        members: list[ast.AST] = []
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            members = list(node.elts)
        elif isinstance(node, ast.Call):
            members = list(node.args)
        if sum(_is_role(member) for member in members) >= 2:
            lines.append(node.lineno)
    return lines


def test_the_check_sees_a_role_set_written_outside_roles_py() -> None:
    assert role_sets("BUYERS = (Role.BUYER_ADMIN, Role.BUYER_EVALUATOR)\n") == [1]
    assert role_sets("x = [Role.VENDOR_ADMIN.value, Role.VENDOR_BID_MANAGER.value]\n") == [1]
    assert role_sets("requires(Role.BUYER_ADMIN, Role.VENDOR_ADMIN, reason='')\n") == [1]
    assert role_sets("requires(*roles.BUYER_WRITERS, reason='')\nrequires(Role.BUYER_ADMIN)\n") == []


def test_no_module_defines_its_own_set_of_roles() -> None:
    found = [f"{path.relative_to(ROOT.parent)}:{line}" for path in sorted(ROOT.rglob("*.py")) if path not in DATA
             for line in role_sets(path.read_text(encoding="utf-8"))]
    assert found == [], "role sets belong in marketplace/accounts/roles.py"


def test_the_audiences_are_distinct_and_read_as_their_names_say() -> None:
    audiences = {name: value for name, value in vars(roles).items()
                 if name.isupper() and isinstance(value, tuple) and value and isinstance(value[0], Role)}
    assert len({frozenset(value) for value in audiences.values()}) == len(audiences), "two names, one set"
    for name, value in audiences.items():
        assert len(set(value)) == len(value), name
    assert set(roles.VENDOR_MEMBERS) == roles.roles_for(roles.OrganisationKind.VENDOR)
    assert set(roles.HOLDER_MEMBERS) == roles.roles_for(roles.OrganisationKind.HOLDER)
    # The buying side of a specific contract: every buyer role and its holder equivalent (HC2).
    buyer_roles = roles.roles_for(roles.OrganisationKind.BUYER)
    assert set(roles.BUYING_SIDE) == buyer_roles | {roles.HOLDER_EQUIVALENTS[role] for role in buyer_roles}
    assert set(roles.HOLDER_WRITERS) < set(roles.HOLDER_MEMBERS)
    assert set(roles.HOLDER_EVALUATORS) < set(roles.HOLDER_MEMBERS)
    assert set(roles.VENDOR_WRITERS) < set(roles.VENDOR_MEMBERS)
    assert set(roles.BUYER_WRITERS) < set(roles.BUYING_SIDE)
    assert set(roles.BUYER_ADMINS) < set(roles.BUYER_WRITERS)
    # A DPS and its admissions stay the buying organisation's own: no holder role runs one.
    assert set(roles.DPS_WRITERS) < buyer_roles
    assert set(roles.FUNDER_MEMBERS) == roles.roles_for(roles.OrganisationKind.FUNDER)
    assert set(roles.FUNDER_WRITERS) < set(roles.FUNDER_MEMBERS)
    assert {role.kind for role in roles.ADMINS} == set(roles.OrganisationKind)


def test_each_buyer_role_has_one_holder_equivalent_and_the_audiences_hold_both() -> None:
    """HC2: the mapping is explicit, one to one, from every buyer role to a holder role of the same standing; each
    audience of a procedure's buying side admits a buyer role exactly when it admits its equivalent."""
    assert roles.HOLDER_EQUIVALENTS == {Role.BUYER_ADMIN: Role.HOLDER_ADMIN,
                                        Role.BUYER_EVALUATOR: Role.HOLDER_EVALUATOR,
                                        Role.BUYER_OPENER: Role.HOLDER_OPENER}
    assert set(roles.HOLDER_EQUIVALENTS) == roles.roles_for(roles.OrganisationKind.BUYER)
    assert all(holder.kind is roles.OrganisationKind.HOLDER for holder in roles.HOLDER_EQUIVALENTS.values())
    assert len(set(roles.HOLDER_EQUIVALENTS.values())) == len(roles.HOLDER_EQUIVALENTS)
    for name in ("BUYER_ADMINS", "BUYER_WRITERS", "OPENERS", "BUYING_SIDE"):
        audience = set(getattr(roles, name))
        for buyer, holder in roles.HOLDER_EQUIVALENTS.items():
            assert (buyer in audience) == (holder in audience), (name, buyer, holder)
    assert set(roles.SIGNATORIES) == {*roles.BUYER_ADMINS, Role.VENDOR_ADMIN}
    # Widening is idempotent and adds nothing to roles of other kinds.
    assert roles.acting_for_the_buyer(*roles.BUYING_SIDE) == roles.BUYING_SIDE
    assert roles.acting_for_the_buyer(Role.VENDOR_ADMIN, Role.HOLDER_MEMBER) == (Role.VENDOR_ADMIN, Role.HOLDER_MEMBER)
    # The holder's new roles are holder roles: memberships, invitations and API keys of a holder may carry them.
    assert {Role.HOLDER_OPENER, Role.HOLDER_EVALUATOR} <= roles.roles_for(roles.OrganisationKind.HOLDER)
