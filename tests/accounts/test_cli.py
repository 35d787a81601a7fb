"""The accounts commands: first platform admin, demo data."""

from __future__ import annotations

import os
import subprocess
import sys

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from marketplace.settings import Settings
from marketplace.tenders.demo import DEMO_CPV_CODES, DEMO_CPV_VERSION, HOLDER
from tests.vendors.api import fetch, minimal_pdf


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "marketplace", *args],
                          env={**os.environ, **settings.to_env(), **env},
                          capture_output=True, text=True, timeout=120, check=False)


async def test_seed_is_idempotent_and_its_accounts_log_in(settings: Settings,
                                                          client: AsyncTestClient[Litestar]) -> None:
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "Demo data loaded." in first.stdout and DEMO_PASSWORD in first.stdout
    second = _cli(settings, "seed")
    assert second.returncode == 0 and "already present" in second.stdout
    for email in DEMO_PEOPLE:
        login = await client.post("/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert login.status_code == 200, (email, login.text)
    admin = await client.post("/auth/login", json={"email": "admin@plateforme-sad.example",
                                                   "password": DEMO_PASSWORD})
    organisations = await client.get("/organisations",
                                     headers={"Authorization": f"Bearer {admin.json()['accessToken']}"})
    kinds = {o["kind"] for o in organisations.json()}
    assert kinds == {"platform", "buyer", "holder", "vendor", "funder"}


async def _token(client: AsyncTestClient[Litestar], email: str) -> dict[str, str]:
    login = await client.post("/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


async def test_seed_leaves_the_ars_call_open_and_the_holder_project_selected_with_its_decision(
        settings: Settings, client: AsyncTestClient[Litestar]) -> None:
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    lines = [line.split() for line in first.stdout.splitlines()]
    call_id = next(words[3] for words in lines if words[:3] == ["call", "for", "projects"])
    need_id = next(words[2] for words in lines if words[:2] == ["selected", "project"])
    ars = await _token(client, "instruction@ars-idf.example")
    call = (await client.get(f"/funding-calls/{call_id}", headers=ars)).json()
    assert (call["campaign"], call["region"]) == (2025, "11"), call
    # FU3, N14: the holder reads a real selected decision (its signed PDF stored) and its 40/40/20 tranches.
    holder = await _token(client, "direction@les-tilleuls.example")
    funding = await client.get(f"/needs/{need_id}/funding", headers=holder)
    assert funding.status_code == 200, funding.text
    body = funding.json()
    assert body["decision"]["outcome"] == "selected" and body["decision"]["amountCents"] == 6_000_000, body
    assert body["decision"]["document"]["sha256"], body
    assert [t["amountCents"] for t in body["tranches"]] == [2_400_000, 2_400_000, 1_200_000]
    assert [t["status"] for t in body["tranches"]] == ["pending"] * 3
    # The holder may give the start tranche's evidence; requesting it waits for the need's signed contract (FU5).
    evidence = await client.put(f"/needs/{need_id}/funding/tranches/1/evidence", headers={
        **holder, "content-type": "application/pdf", "x-filename": "lancement.pdf"}, content=minimal_pdf("lancement"))
    assert evidence.status_code == 200, evidence.text
    early = await client.post(f"/needs/{need_id}/funding/tranches/1/request", headers=holder, json={})
    assert early.status_code == 409 and (early.json()["rule"], early.json()["field"]) == ("FU5", "contract"), \
        early.text
    second = _cli(settings, "seed")
    assert second.returncode == 0 and "present:" in second.stdout and need_id in second.stdout


async def test_seed_leaves_a_demo_sandbox_open_for_offers_and_out_of_public_lists(
        settings: Settings, client: AsyncTestClient[Litestar]) -> None:
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "Demo sandbox (BAC À SABLE / SANDBOX — sans valeur juridique)" in first.stdout and "new:" in first.stdout
    lines = [line.split() for line in first.stdout.splitlines()]
    dps_id = next(words[1] for words in lines if words[:1] == ["DPS"])
    contract_id = next(words[2] for words in lines if words[:2] == ["specific", "contract"])
    # Ready to walk: active, both demo vendors admitted and invited, the need open for about ten minutes.
    dps = (await client.get(f"/dps/{dps_id}")).json()
    assert (dps["status"], dps["sandbox"], dps["sandboxClock"]["factor"]) == ("active", True, 1440)
    for email in ("commercial@logisante.example", "contact@dossier-soins.example"):
        token = (await client.post("/auth/login", json={"email": email, "password": DEMO_PASSWORD})).json()
        invitations = (await client.get("/my/invitations",
                                        headers={"Authorization": f"Bearer {token['accessToken']}"})).json()
        assert [(i["specificContractId"], i["sandbox"], i["status"]) for i in invitations] == [
            (contract_id, True, "open")]
    assert dps_id not in {d["id"] for d in (await client.get("/dps")).json()["items"]}
    assert (await client.get("/discovery/needs")).json()["items"] == []
    # HC2: conducted in intermediation, the holder bought it: it published, and its opener holds the key the
    # offers are sealed to; the central purchasing body follows.
    assert dps["conductMode"] == "intermediation"
    holder, opener = await _token(client, HOLDER), await _token(client, "ouverture@les-tilleuls.example")
    contract = (await client.get(f"/specific-contracts/{contract_id}", headers=holder)).json()
    me = (await client.get("/auth/me", headers=holder)).json()
    tilleuls = me["memberships"][0]["organisationId"]
    assert (contract["conductMode"], contract["buyerOrganisationId"]) == ("intermediation", tilleuls), contract
    keys = (await client.get(f"/organisations/{tilleuls}/opener-keys", headers=opener)).json()
    assert [k["id"] for k in keys if k["retiredAt"] is None], keys
    published = await fetch(settings, "SELECT actor FROM audit_event WHERE action = 'specific_contract.published' "
                                      "AND target_id = $1", contract_id)
    assert [row["actor"] for row in published] == [f"user:{me['id']}"], published
    # N16 rehearsed: the need is filed to its own rehearsal call of the ARS (hidden from the listing) and selected.
    need_id = next(words[2] for words in lines if words[:2] == ["need", "(funded)"])
    funding = (await client.get(f"/needs/{need_id}/funding", headers=holder)).json()
    assert (funding["fundingStatus"], funding["decision"]["amountCents"]) == ("selected", 6_000_000), funding
    ars = await _token(client, "instruction@ars-idf.example")
    call = (await client.get(f"/funding-calls/{funding['call']['id']}", headers=ars)).json()
    assert (call["sandbox"], call["region"]) == (True, "11"), call
    assert call["id"] not in {c["id"] for c in (await client.get("/funding-calls", headers=ars)).json()["items"]}
    assert (await client.get(f"/register?dpsId={dps_id}")).json()["total"] == 0
    # A second run finds it still open and reuses it.
    second = _cli(settings, "seed")
    assert second.returncode == 0 and "still open:" in second.stdout and contract_id in second.stdout


async def test_seed_loads_the_cpv_codes_its_need_cites_into_an_empty_table_only(
        settings: Settings, client: AsyncTestClient[Litestar]) -> None:
    """A fresh database has no CPV table: the demo loads its few codes (never the table) and says how to
    import the rest; its needs (the sandbox's and the funded project) cite them."""
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "./run import-cpv cpv_en.json --version cpv-2008" in first.stdout
    codes = await fetch(settings, "SELECT code, dataset FROM cpv_code ORDER BY code")
    assert [(r["code"], r["dataset"]) for r in codes] == [
        (code[:8], DEMO_CPV_VERSION) for code in sorted(DEMO_CPV_CODES)]
    need = await fetch(settings, "SELECT cpv_codes FROM need ORDER BY sandbox")
    assert [list(r["cpv_codes"]) for r in need] == [["48180000-3", "72000000-5"]] * 2
    assert all(code in DEMO_CPV_CODES for code in need[0]["cpv_codes"])


async def test_seed_leaves_an_imported_cpv_table_alone(settings: Settings, cpv: None) -> None:
    before = await fetch(settings, "SELECT code, dataset, label FROM cpv_code ORDER BY code")
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "import-cpv" not in first.stdout
    assert await fetch(settings, "SELECT code, dataset, label FROM cpv_code ORDER BY code") == before
    assert [r["version"] for r in await fetch(settings, "SELECT version FROM reference_dataset")] == [
        "cpv-2008-sample"]


async def test_create_admin(settings: Settings, client: AsyncTestClient[Litestar]) -> None:
    bad = _cli(settings, "create-admin", "--email", "root@example.fr", "--name", "Root",
               "--operator-siret", "73282932000075", MARKETPLACE_ADMIN_PASSWORD="a-long-password-1")
    assert bad.returncode != 0 and "siret" in bad.stderr.lower()
    ok = _cli(settings, "create-admin", "--email", "Root@example.fr", "--name", "Root",
              "--operator-siret", "73282932000074", MARKETPLACE_ADMIN_PASSWORD="a-long-password-1")
    assert ok.returncode == 0, ok.stderr
    login = await client.post("/auth/login", json={"email": "root@example.fr", "password": "a-long-password-1"})
    assert login.status_code == 200
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {login.json()['accessToken']}"})
    assert me.json()["memberships"][0]["roles"] == ["platform:admin"]


async def test_seed_walks_a_sons_order_to_paid_and_leaves_one_to_modify(
        settings: Settings, client: AsyncTestClient[Litestar]) -> None:
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "Demo data loaded." in first.stdout  # the existing demo output is kept
    block = first.stdout.split("Demo SONS (purchase-for-account orders), new:", 1)[1]
    lines = [line.split() for line in block.splitlines()]
    solutions = [words[1] for words in lines if words[:1] == ["solution"]]
    paid_id = next(words[2] for words in lines if words[:2] == ["order", "PAID"])
    to_modify_id = next(words[2] for words in lines if words[:2] == ["order", "TO_MODIFY"])
    # No ceiling table was imported: the demo's own, labelled as demo data, not the AF's.
    assert "loaded the DEMO table" in block and "not the AF's" in block

    vendor = await _token(client, "commercial@logisante.example")
    listed = (await client.get("/sons/solutions", headers=vendor)).json()
    assert sorted(s["id"] for s in listed) == sorted(solutions) and len(solutions) == 2
    assert all(s["referencingNumber"] for s in listed)
    paid = (await client.get(f"/sons/orders/{paid_id}", headers=vendor)).json()
    assert (paid["status"], paid["paidCents"]) == ("paid", paid["amountTtcCents"]), paid
    assert [r["status"] for r in paid["requests"]] == ["DECIDED_PAID", "DECIDED_PAID"]
    # The OG's signatures are real ones, checked (G16); the balance's invoice a Factur-X read back (SN7).
    assert paid["signature"]["verification"]["verdict"] == "valid"
    assert paid["acceptance"]["verification"]["verdict"] == "valid"
    assert paid["requests"][1]["invoice"]["grandTotalCents"] == paid["amountTtcCents"]
    holder = await _token(client, "direction@les-tilleuls.example")
    modify = (await client.get(f"/sons/orders/{to_modify_id}", headers=holder)).json()
    assert modify["status"] == "advance_to_modify" and modify["requests"][0]["status"] == "TO_MODIFY", modify
    dispositif = (await client.get("/sons/dispositifs", headers=vendor)).json()[0]
    assert dispositif["ceilingTable"]["version"] == "DEMO"

    second = _cli(settings, "seed")
    assert second.returncode == 0, second.stderr
    assert "Demo SONS (purchase-for-account orders), present:" in second.stdout and paid_id in second.stdout
    assert "loaded the DEMO table" not in second.stdout
