"""Rules of the tender whose one enforcing line no other test would miss: who is invited (D8), one answer per
award criterion (D10), and the hash re-checked at each download of an opened file (P9)."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.vendors.states import AdmissionStatus
from tests.tenders.test_offers import DEADLINE, PARTS, open_contract, open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import (
    Client,
    _minio,
    apply,
    categories_by_pair,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
    upload_all,
)

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")

# Every state of a request but `admitted`: none of them is invited (D8).
NOT_ADMITTED = sorted(set(AdmissionStatus) - {AdmissionStatus.ADMITTED})


async def _vendors_in_states(settings: Settings, dps_id: str, category_id: str,
                             states: list[AdmissionStatus]) -> dict[uuid.UUID, AdmissionStatus]:
    """One vendor (with an admin to notify) per state, its request in the category decided long ago."""
    rows = await fetch(settings, """
        WITH orgs AS (
            INSERT INTO organisation (id, kind, name, is_grappe, created_at, updated_at)
            SELECT gen_random_uuid(), 'vendor', 'Éditeur ' || s, false, now() - interval '400 days',
                   now() - interval '400 days'
            FROM unnest($3::text[]) AS s
            RETURNING id, name
        ), users AS (
            INSERT INTO user_account (id, email, full_name, is_active, created_at, updated_at)
            SELECT gen_random_uuid(), 'admin-' || o.id || '@editeur.example.fr', 'Admin', true, now(), now()
            FROM orgs o
            RETURNING id, email
        ), members AS (
            INSERT INTO membership (id, user_id, organisation_id, roles, created_at, updated_at)
            SELECT gen_random_uuid(), u.id, o.id, ARRAY['vendor:admin'], now(), now()
            FROM orgs o JOIN users u ON u.email = 'admin-' || o.id || '@editeur.example.fr'
            RETURNING organisation_id
        )
        INSERT INTO admission_request (id, dps_id, category_id, vendor_organisation_id, status, self_declaration,
                                       referenced_software, decided_at, created_at, updated_at)
        SELECT gen_random_uuid(), $1, $2, o.id, CAST(substr(o.name, 9) AS admission_status), '{}', '{}',
               now() - interval '400 days', now() - interval '400 days', now() - interval '400 days'
        FROM orgs o JOIN members m ON m.organisation_id = o.id
        RETURNING vendor_organisation_id, status
    """, uuid.UUID(dps_id), uuid.UUID(category_id), [s.value for s in states])
    return {r["vendor_organisation_id"]: AdmissionStatus(r["status"]) for r in rows}


async def test_only_vendors_admitted_to_the_category_are_invited_d8(client: Client, world: World,
                                                                    clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    target = categories_by_pair(dps)["grand_age", "saas"]
    await admit(client, world, world["vendor_admin"], target)
    # Admitted, then suspended by the buyer: not invited while suspended.
    suspended = await admit(client, world, world["other_vendor_admin"], target)
    expect(await client.post(f"/admission-requests/{suspended}/suspend", headers=world["buyer_admin"].headers,
                             json={"reasons": "Attestation d'assurance échue."}), 200)
    # Applied and submitted, not decided yet.
    pending = await apply(client, world["third_vendor_admin"], target)
    await upload_all(client, world["third_vendor_admin"], pending["id"], "en attente")
    expect(await client.post(f"/admission-requests/{pending['id']}/submit",
                             headers=world["third_vendor_admin"].headers), 200)
    # And one vendor in each of the other states.
    others = await _vendors_in_states(settings, dps["id"], target, NOT_ADMITTED)
    assert sorted(others.values()) == NOT_ADMITTED

    need = await submitted_need(client, world)
    contract = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201)
    assert contract["invitationCount"] == 1
    invited = await fetch(settings, "SELECT vendor_organisation_id FROM contract_invitation "
                                    "WHERE specific_contract_id = $1", uuid.UUID(contract["id"]))
    assert [r["vendor_organisation_id"] for r in invited] == [world.organisations["vendor"]]
    notified = await fetch(settings, "SELECT recipient_email FROM notification WHERE kind = 'tender.invitation'")
    assert [r["recipient_email"] for r in notified] == [world["vendor_admin"].email]
    for person in ("other_vendor_admin", "third_vendor_admin"):
        assert expect(await client.get("/my/invitations", headers=world[person].headers), 200) == []


def _answers(*criteria: str) -> dict[str, Any]:
    return {**PARTS, "answers": [{"criterion": c, "answer": f"Réponse sur {c}."} for c in criteria]}


@pytest.mark.parametrize("criteria", [
    ("Prix",),                                     # one missing
    ("Prix", "Valeur technique", "Délais"),        # one the contract doesn't have
    ("Prix", "Prix", "Valeur technique"),          # one answered twice
    ("Prix", "Prix"),                              # as many answers as criteria, but not one each
    ("Prix", "Valeur technique ", "Valeur technique"),
], ids=["missing", "extra", "duplicated", "duplicated-instead-of-missing", "near-duplicate"])
async def test_an_offer_answers_each_award_criterion_once_d10(client: Client, world: World, clock: FrozenClock,
                                                              criteria: tuple[str, ...]) -> None:
    contract = await open_contract(client, world, clock)
    headers = world["vendor_admin"].headers
    offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers", headers=headers), 201)
    problem = expect(await client.put(f"/offers/{offer['id']}/parts", headers=headers, json=_answers(*criteria)), 422)
    assert (problem["field"], problem["rule"]) == ("answers", "D10")
    assert "Prix, Valeur technique" in problem["detail"]
    # The parts were not kept: the offer can't be submitted on them.
    assert expect(await client.get(f"/offers/{offer['id']}", headers=headers), 200)["hasParts"] is False
    # In any order, each once: accepted.
    expect(await client.put(f"/offers/{offer['id']}/parts", headers=headers,
                            json=_answers("Valeur technique", "Prix")), 200)


async def test_a_byte_flipped_in_storage_after_the_opening_is_caught_at_download_p9(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """Verified at the opening, changed behind the application's back afterwards: the download re-checks the
    SHA-256 recorded at receipt, refuses the file (409 naming sha256), blocks it and audits the mismatch."""
    contract = await open_contract(client, world, clock)
    content = minimal_pdf("mémoire technique")
    offer = await prepared_offer(client, world, contract["id"], files={"memoire.pdf": content})
    expect(await submit(client, world, offer["id"]), 200)
    clock.set(DEADLINE)
    document = expect(await open_offers(client, world, contract["id"]), 200)["document"]
    assert [f["integrity"] for f in document["offers"][0]["files"]] == ["verified"]
    listed = expect(await client.get(f"/specific-contracts/{contract['id']}/offers",
                                     headers=world["buyer_admin"].headers), 200)
    path = listed["offers"][0]["attachments"][0]["downloadPath"]
    buyer = world["buyer_admin"].headers
    first = await client.get(path, headers=buyer, params={"acceptUnscanned": "true"})
    assert first.status_code == 200 and first.content == content

    [row] = await fetch(settings, "SELECT id, object_key FROM offer_attachment")
    minio = _minio(settings)
    stored = bytearray(minio.get_object(bucket_name=settings.s3_bucket, object_name=row["object_key"]).read())
    stored[len(stored) // 2] ^= 0x01
    minio.put_object(bucket_name=settings.s3_bucket, object_name=row["object_key"], data=io.BytesIO(bytes(stored)),
                     length=len(stored))

    refused = expect(await client.get(path, headers=buyer, params={"acceptUnscanned": "true"}), 409)
    assert refused["field"] == "sha256"
    [attachment] = await fetch(settings, "SELECT integrity, sha256 FROM offer_attachment")
    assert attachment["integrity"] == "mismatch" and attachment["sha256"] == hashlib.sha256(content).hexdigest()
    flagged = await fetch(settings, "SELECT details FROM audit_event WHERE action = "
                                    "'offer_attachment.integrity_mismatch' AND target_id = $1", str(row["id"]))
    assert len(flagged) == 1 and '"download"' in flagged[0]["details"]
    # Blocked from now on, whoever asks.
    assert expect(await client.get(path, headers=world["buyer_evaluator"].headers,
                                   params={"acceptUnscanned": "true"}), 409)["field"] == "sha256"
