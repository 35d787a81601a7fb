"""A sandbox procedure end to end, over HTTP, against a running server (issue 8, "must show" 1), as the
README's walk of the demo runs it: conducted in intermediation, the holder buying and the ARS funding.

`marketplace dev --demo` runs as a subprocess, as a newcomer would start it (API under granian, the arq
worker, PostgreSQL, Redis, S3 and the mail catcher); the test only speaks HTTP to it, as the demo accounts,
and reads the mails it writes. The central purchasing body creates its own sandbox DPS at 86 400 (a sandbox
day per real second), conducted in intermediation (HC2), and the test walks it from the DPS's publication to
a contract signed by the holder and the vendor and the grant's first tranche paid, waiting for the real
deadlines to pass on the sandbox clock: the DPS activates only once D4's 30 days are over; the holder's need,
filed to a rehearsal call of the ARS, is published only once the ARS selected it (N16); the holder can't read
the offers (D13) nor open them before the tender deadline, and the central purchasing body never opens
(HC2); an offer submitted at or after the deadline is refused (D14) and listed as late; the holder's opener
opens after it with its own key, its evaluator scores, its admin awards, and no side signs before the
standstill ends (D18). Each side signs the contract with `marketplace demo-sign`, as the README's walk does,
and the server accepts the signatures as qualified against the DEMO trust list `dev` made (G16). Then the
holder requests the start tranche with its evidence and the ARS validates and pays it (FU5). About a minute
of waiting, plus the server's start.

Times: the test computes the sandbox's present from the real clock exactly as the server does (one
machine, one clock): epoch + (now − epoch) × 86 400. It never acts on a computed time alone: each
deadline is crossed with a margin of a real second or less, and the server's own answer is checked.
"""

from __future__ import annotations

import email
import email.policy
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from pypdf import PdfReader

from marketplace.accounts.demo import DEMO_PASSWORD
from marketplace.lib.sandbox import NOTICE, SUBJECT_PREFIX
from marketplace.lib.sealing import verify
from tests.test_dev_command import ROOT, Dev, _clean_env, _temp_data_dir, dev_running
from tests.vendors.api import minimal_pdf

pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(300)]

FACTOR = 86_400  # a sandbox day per real second
MARGIN = timedelta(hours=12)  # half a real second: what a request may take to arrive
BUYER, HOLDER = "acheteur@centrale-achat.example", "direction@les-tilleuls.example"
HOLDER_OPENER, HOLDER_EVALUATOR = "ouverture@les-tilleuls.example", "evaluation@les-tilleuls.example"
FUNDER = "instruction@ars-idf.example"
VENDOR, OTHER_VENDOR = "commercial@logisante.example", "contact@dossier-soins.example"
PASSPHRASE = "la phrase de passe de l'ouverture en bac à sable"
GRANT_CENTS = 6_000_000  # 60 000 €: 24 000 €, 24 000 €, 12 000 € (40/40/20, FU5)
NEED = {
    "title": "Répétition de bout en bout — DUI de l'EHPAD", "description": "Besoin fictif d'un test d'intégration.",
    "campaign": 2025, "projectType": 2, "requestedCall": "regional", "appliedOn": "2025-03-01",
    "facilities": [{"finessEt": "750000010"}], "coreServices": ["ins", "mss", "dmp", "eprescription"],
    "gdprCompliance": True, "targetMapConvergence": True, "businessContinuity": True, "usageTargetsDeclared": True,
    "software": {"couloir": "MS1", "referenced": True}, "fundingSchedule": [40, 40, 20], "sector": "grand_age",
    "deliveryMode": "saas", "sandbox": True,
}
PARTS = {"priceSchedule": [{"item": "Licence DUI, 40 postes", "quantity": 1, "unitPriceCents": 4_800_000}],
         "answers": [{"criterion": "Prix", "answer": "Prix ferme."},
                     {"criterion": "Valeur technique", "answer": "Mémoire technique joint."}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    logs = tmp_path_factory.mktemp("sandbox-e2e-logs")
    for data_dir in _temp_data_dir():
        # No trusted list configured: `dev` checks contract signatures (G16) against its DEMO trust list, with
        # qualified certificates required as in production, and `demo-sign` signs with that PKI.
        with dev_running(data_dir, logs, "sandbox-e2e", "--demo") as dev:
            dev.wait_healthy(90)
            deadline = time.monotonic() + 90
            while "Demo sandbox" not in dev.log():  # the demo accounts are seeded once the API answers
                assert dev.proc.poll() is None and time.monotonic() < deadline, dev.log()
                time.sleep(0.2)
            yield dev


class Api:
    """One demo person speaking HTTP to the server."""

    def __init__(self, base: str, person: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        tokens = self.expect(self.http.post("/auth/login", json={"email": person, "password": DEMO_PASSWORD}), 200)
        self.http.headers["Authorization"] = f"Bearer {tokens['accessToken']}"
        self.organisation = self.get("/auth/me")["memberships"][0]["organisationId"]

    @staticmethod
    def expect(response: httpx.Response, status: int) -> Any:
        assert response.status_code == status, (f"{response.request.method} {response.request.url}: "
                                                f"{response.status_code} {response.text}")
        return response.json() if response.content and "json" in response.headers.get("content-type", "") else None

    def get(self, path: str, status: int = 200, **options: Any) -> Any:
        return self.expect(self.http.get(path, **options), status)

    def post(self, path: str, json: Any = None, status: int = 200, **options: Any) -> Any:
        return self.expect(self.http.post(path, json=json, **options), status)

    def put(self, path: str, status: int = 200, **options: Any) -> Any:
        return self.expect(self.http.put(path, **options), status)


class SandboxTime:
    """The sandbox's present, read off the real clock as the server reads it."""

    def __init__(self, epoch: datetime) -> None:
        self.epoch = epoch

    def now(self) -> datetime:
        return self.epoch + (datetime.now(UTC) - self.epoch) * FACTOR

    def wait_until(self, instant: datetime) -> None:
        """Sleep until the sandbox's clock has passed `instant` by MARGIN."""
        left = (instant + MARGIN - self.now()) / FACTOR
        if left > timedelta(0):
            time.sleep(left.total_seconds())


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def offer(api: Api, contract_id: str, label: str) -> str:
    """A prepared offer (parts and one PDF), not yet submitted: its id."""
    created = api.post(f"/specific-contracts/{contract_id}/offers", status=201)
    api.put(f"/offers/{created['id']}/parts", json=PARTS)
    api.put(f"/offers/{created['id']}/attachments", status=201, content=minimal_pdf(label),
            headers={"content-type": "application/pdf", "x-filename": quote(f"{label}.pdf")})
    return str(created["id"])


def demo_sign(server: Dev, person: str, *args: str) -> bytes:
    """`marketplace demo-sign` as the README's walk runs it, against the server's data directory: the PDF."""
    done = subprocess.run([sys.executable, "-m", "marketplace", "demo-sign", "--data-dir", str(server.data_dir),
                           "--as", person, *args], env=_clean_env(), cwd=ROOT, capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _mails(directory: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(directory.glob("*.eml"))]


def test_a_sandbox_procedure_from_publication_to_a_signed_contract_on_real_deadlines(
        server: Dev, tmp_path: Path) -> None:
    # The contract as each side will sign it, made first (two commands of a few seconds each) so the standstill's
    # 11 real seconds are not spent on it: the holder signs a generated PDF, the titulaire counter-signs that.
    buyer_pdf = demo_sign(server, HOLDER, "--generate", "Marché de répétition — test d'intégration")
    (tmp_path / "signe-acheteur.pdf").write_bytes(buyer_pdf)
    vendor_pdf = demo_sign(server, VENDOR, str(tmp_path / "signe-acheteur.pdf"))
    began = time.monotonic()
    buyer, holder = Api(server.base, BUYER), Api(server.base, HOLDER)
    opener, evaluator = Api(server.base, HOLDER_OPENER), Api(server.base, HOLDER_EVALUATOR)
    vendor, other, ars = Api(server.base, VENDOR), Api(server.base, OTHER_VENDOR), Api(server.base, FUNDER)

    # The buyer creates and publishes a sandbox DPS: D4's 30 days now take 30 seconds.
    now = datetime.now(UTC)
    dps = buyer.post("/dps", status=201, json={
        "title": "SAD de répétition — test d'intégration", "description": "Procédure fictive.",
        "validityStart": now.isoformat(), "validityEnd": (now + timedelta(days=4 * 365)).isoformat(),
        "usableByOtherBuyers": False, "sandbox": {"factor": FACTOR},
        # ESMS numérique's mode: the holder publishes, opens, scores, awards and signs (HC1, HC2).
        "conductMode": "intermediation",
        "awardCriteria": [{"name": "Prix", "weightMin": 20, "weightMax": 50},
                          {"name": "Valeur technique", "weightMin": 50, "weightMax": 80}],
        "categories": [{"sector": "grand_age", "deliveryMode": "saas", "title": "DUI grand âge en SaaS",
                        "selectionCriteria": "Références.",
                        "requiredDocuments": [{"kind": "kbis", "label": "Extrait Kbis"}]}]})
    assert dps["sandbox"] is True and dps["sandboxClock"]["factor"] == FACTOR
    sandbox = SandboxTime(_at(dps["sandboxClock"]["epoch"]))
    window_end = sandbox.now() + timedelta(days=31) + MARGIN  # D4's 30 days are a délai franc
    buyer.post(f"/dps/{dps['id']}/publish", json={"initialWindowEnd": window_end.isoformat()})
    assert buyer.post(f"/dps/{dps['id']}/activate", status=422)["rule"] == "D4"
    category = dps["categories"][0]["id"]

    # Both vendors apply during the initial window (decided once it is over, D6); their receipts are the sandbox's.
    requests = []
    for api, name in ((vendor, "LogiSanté"), (other, "Dossier de Soins")):
        request = api.post("/admission-requests", status=201, json={
            "categoryId": category,
            "selfDeclaration": {"noExclusionGrounds": True, "taxAndSocialObligationsMet": True,
                                "legalRepresentative": "Représentant légal"},
            "referencedSoftware": {"referencingId": f"SEGUR-{name[:3].upper()}-1", "software": f"DUI {name}",
                                   "version": "1.0", "dispositif": "DUI-ESMS"}})
        api.put(f"/admission-requests/{request['id']}/documents/kbis", status=201, params={"filename": "kbis.pdf"},
                content=minimal_pdf(f"kbis {name}"), headers={"content-type": "application/pdf"})
        receipt = api.post(f"/admission-requests/{request['id']}/submit")
        assert (receipt["sandbox"], receipt["notice"]) == (True, NOTICE)
        assert abs(_at(receipt["receivedAt"]) - sandbox.now()) < timedelta(days=1)
        requests.append(request["id"])

    # The sandbox is nowhere in public: not in the DPS list, not in the register.
    assert dps["id"] not in {d["id"] for d in buyer.get("/dps", params={"limit": 200})["items"]}
    assert buyer.get("/register", params={"dpsId": dps["id"]})["total"] == 0

    # The holder writes a rehearsal need and files it to the ARS's rehearsal call (N5: the ARS of its region);
    # its opener holds an opener key (sealing is as for a real procedure, HC2).
    need = holder.post("/needs", status=201, json={**NEED, "dpsId": dps["id"]})
    holder.post(f"/needs/{need['id']}/submit")
    call = ars.post("/funding-calls", status=201, json={
        "title": "Appel à projets de répétition", "reference": f"AAP-REPETITION-{need['id'][-8:]}",
        "campaign": 2025, "opensAt": (now - timedelta(days=1)).isoformat(),
        "closesAt": (now + timedelta(days=30)).isoformat(), "envelopeCents": 100_000_000, "sandbox": True})
    filed = holder.post(f"/needs/{need['id']}/filing", status=201, json={"callId": call["id"]})
    key = opener.post("/my/opener-keys", status=201,
                      json={"organisationId": opener.organisation, "passphrase": PASSPHRASE})

    # D4: the window is over on the sandbox clock after about 30 real seconds.
    sandbox.wait_until(window_end)
    for request_id in requests:
        assert buyer.post(f"/admission-requests/{request_id}/admit")["status"] == "admitted"
    assert buyer.post(f"/dps/{dps['id']}/activate")["status"] == "active"

    # N16: not published before the ARS selected it; D9 in sandbox days; then published by the holder with a
    # deadline 11 sandbox days (11 real seconds) ahead (a délai franc).
    weights = [{"name": "Prix", "weight": 40}, {"name": "Valeur technique", "weight": 60}]
    unfunded = holder.post(f"/needs/{need['id']}/publish", status=422, json={
        "dpsId": dps["id"], "awardCriteria": weights,
        "tenderDeadline": (sandbox.now() + timedelta(days=11) + MARGIN * 2).isoformat()})
    assert (unfunded["rule"], unfunded["field"]) == ("N16", "fundingDecision")
    paris_today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    ars.post(f"/funding-calls/{call['id']}/projects/{need['id']}/selection", status=201,
             params={"amountCents": GRANT_CENTS, "decidedOn": paris_today, "reference": "DEC-REPETITION-1"},
             content=minimal_pdf("décision de financement"),
             headers={"content-type": "application/pdf", "x-filename": "decision.pdf"})
    early = holder.post(f"/needs/{need['id']}/publish", status=422, json={
        "dpsId": dps["id"], "awardCriteria": weights,
        "tenderDeadline": (sandbox.now() + timedelta(days=9)).isoformat()})
    assert early["rule"] == "D9"
    deadline = sandbox.now() + timedelta(days=11) + MARGIN * 2
    contract = holder.post(f"/needs/{need['id']}/publish", status=201, json={
        "dpsId": dps["id"], "awardCriteria": weights, "tenderDeadline": deadline.isoformat()})
    cid = contract["id"]
    assert contract["sandbox"] is True and contract["invitationCount"] == 2
    assert (contract["conductMode"], contract["buyerOrganisationId"]) == ("intermediation", holder.organisation)
    assert need["id"] not in {n["needId"] for n in buyer.get("/discovery/needs", params={"limit": 100})["items"]}

    # Offers: sealed, signed receipts that say they are a sandbox's, in JSON and in PDF.
    first = offer(vendor, cid, "offre LogiSanté")
    signed = vendor.post(f"/offers/{first}/submit")
    jwk = vendor.get("/receipts/public-key")
    assert verify(signed["receipt"], signed["signature"], jwk)
    assert signed["receipt"]["sandbox"]["notice"] == NOTICE
    pdf = vendor.http.get(f"/offers/{first}/receipt.pdf")
    assert pdf.status_code == 200
    assert "BAC À SABLE" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    second = offer(other, cid, "offre Dossier de Soins")
    other.post(f"/offers/{second}/submit")
    late = offer(other, cid, "offre tardive")  # a new version, submitted once the deadline has passed

    # Sealing holds until the accelerated deadline: the holder reads nothing, and can't open.
    assert sandbox.now() < deadline
    assert holder.get(f"/specific-contracts/{cid}/offers", status=403)["rule"] == "D13"
    opening = {"openers": [{"openerKeyId": key["id"], "passphrase": PASSPHRASE}]}
    assert opener.post(f"/specific-contracts/{cid}/opening", json=opening, status=403)["reason"] == "before-deadline"

    # About 10 real seconds later: a late offer is refused (D14), the holder's opener opens with its own key and
    # the record lists the late offer; the central purchasing body follows and never opens (HC2).
    sandbox.wait_until(deadline)
    assert other.post(f"/offers/{late}/submit", status=409)["rule"] == "D14"
    assert buyer.post(f"/specific-contracts/{cid}/opening", json=opening, status=403)["rule"] == "HC2"
    record = opener.post(f"/specific-contracts/{cid}/opening", json=opening)
    assert _at(record["openedAt"]) >= deadline
    assert {e["offer"] for e in record["document"]["offers"]} == {first, second}
    assert [e["offer"] for e in record["document"]["late"]] == [late]
    assert record["document"]["sandbox"]["notice"] == NOTICE and verify(record["document"], record["signature"], jwk)

    # The holder's evaluation and award with a standstill: 11 sandbox days, 11 real seconds.
    holder.post(f"/specific-contracts/{cid}/evaluation")
    evaluator.post(f"/specific-contracts/{cid}/conflict-declarations", status=201,
                   json={"hasConflict": False, "statement": "Aucun lien avec les soumissionnaires."})
    for offer_id, mark in ((first, 90), (second, 60)):
        evaluator.put(f"/offers/{offer_id}/scores", json={"scores": [
            {"criterion": "Prix", "score": mark, "comment": "Lu."},
            {"criterion": "Valeur technique", "score": mark, "comment": "Lu."}]})
    award = holder.post(f"/specific-contracts/{cid}/award", status=201, json={
        "offerId": first, "reasons": "Meilleure offre.", "standstillRequired": True})
    assert award["sandbox"] is True
    assert _at(award["earliestSignatureAt"]) - _at(award["decidedAt"]) == timedelta(days=11)
    signed_contract = holder.post(f"/specific-contracts/{cid}/contract", status=201, json={"amountCents": 4_800_000})
    kid = signed_contract["id"]
    pdf_headers = {"content-type": "application/pdf"}
    early_sign = holder.post(f"/contracts/{kid}/signatures", status=409, content=buyer_pdf, headers=pdf_headers)
    assert early_sign["rule"] == "D18"
    # The start tranche waits for the contract signed by both sides (FU5).
    evidence = {"content-type": "application/pdf", "x-filename": "lancement.pdf"}
    holder.put(f"/needs/{need['id']}/funding/tranches/1/evidence", content=minimal_pdf("lancement"), headers=evidence)
    assert holder.post(f"/needs/{need['id']}/funding/tranches/1/request", json={}, status=409)["rule"] == "FU5"
    sandbox.wait_until(_at(award["earliestSignatureAt"]))
    holder.post(f"/contracts/{kid}/signatures", status=201, content=buyer_pdf, headers=pdf_headers)
    active = vendor.post(f"/contracts/{kid}/signatures", status=201, content=vendor_pdf, headers=pdf_headers)
    assert [s["verification"]["verdict"] for s in active["signatures"]] == ["valid", "valid"]
    assert [[(who["category"], who["identity"]["commonName"]) for who in s["verification"]["signatures"]]
            for s in active["signatures"]] == [[("qualified", "Nathalie Petit")],
                                               [("qualified", "Nathalie Petit"), ("qualified", "Antoine Girard")]]
    assert (active["status"], active["sandbox"]) == ("active", True)
    assert [(t["fromStatus"], t["toStatus"]) for t in active["transitions"]] == [
        (None, "pending"), ("pending", "signed"), ("signed", "active")]
    assert vendor.get(f"/specific-contracts/{cid}")["status"] == "contracted"
    assert holder.get(f"/needs/{need['id']}")["status"] == "contracted"  # HC5

    # The ARS pays the start tranche (40 %) on the holder's request; the third waits for the second (FU5).
    holder.post(f"/needs/{need['id']}/funding/tranches/1/request", json={})
    ars.post(f"/needs/{need['id']}/funding/tranches/1/validation")
    paid = ars.post(f"/needs/{need['id']}/funding/tranches/1/payment", json={
        "paidOn": paris_today, "amountCents": GRANT_CENTS * 40 // 100, "reference": "VIR-REPETITION-1"})
    assert (paid["tranches"][0]["status"], paid["paidCents"]) == ("paid", GRANT_CENTS * 40 // 100), paid
    assert holder.post(f"/needs/{need['id']}/funding/tranches/3/request", json={"usageIndicators": {
        "activeDuiUsers": 40}}, status=409)["rule"] == "FU5"
    assert filed["fundingStatus"] == "filed" and ars.get(f"/funding-calls/{call['id']}")["sandbox"] is True

    # The mails the worker sent about it say plainly they are a sandbox's.
    deadline_mail = time.monotonic() + 30
    while True:
        about = [m for m in _mails(server.data_dir / "mail") if cid in m.get_content() or
                 "Répétition de bout en bout" in str(m["Subject"])]
        if len(about) >= 2 or time.monotonic() > deadline_mail:
            break
        time.sleep(0.5)
    assert about, server.log()
    assert all(str(m["Subject"]).startswith(SUBJECT_PREFIX) and NOTICE in m.get_content() for m in about)
    print(f"\nsandbox e2e: publication to the first tranche paid in {time.monotonic() - began:.0f} s")
