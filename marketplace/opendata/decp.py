"""DECP 2.0.3: the essential data of every notified contract of at least 40,000 € HT, published within two months
of its notification (domain.md §4.1), never edited (modifications are appended, §4.1), and the deadline tracked.

- `track()` opens an obligation for each contract notified (machine (e) SIGNED --notified--> ACTIVE) at or above
  the threshold, due two months after the notification's date (Europe/Paris); sandbox contracts never owe one.
- `publish_due()` builds each unpublished record from the domain's rows (read-only), stores it (append-only, the
  database refuses any edit), hands it to the portal's adapter (publisher.py) and marks the obligation published;
  a modification of a published contract is appended as the next `modifications[]` item and published the same way.
- `remind()` tells the buying side's administrators, once, when an obligation is still unpublished
  `REMINDER_LEAD_DAYS` before it falls due; the work queue lists every unpublished obligation
  (`pending_for_buying_side`).

The worker runs the three every few minutes (jobs.py), and `marketplace publish-open-data` does at once.

Fields the platform does not hold are filled with the values that fit a SAD's software contracts, as [INFER] in
§4.2, gathered in `DecpDefaults` so that a deployment can change them.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import rfc8785
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.members import member_emails
from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_ADMINS
from marketplace.awards.models import Contract, ContractModification, ContractTransition
from marketplace.awards.schemas import PendingItem
from marketplace.lib.clock import PARIS, Clock, format_paris, to_paris
from marketplace.lib.geography import departement_of_finess
from marketplace.notifications.notify import NotificationService
from marketplace.opendata.models import DecpObligation, DecpRecord
from marketplace.opendata.publisher import DecpPublisher, PublicationFailed
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.states import OfferStatus
from marketplace.vendors.models import Dps

log = logging.getLogger("marketplace.opendata.decp")

# §4.1: every contract of at least 40 000 € HT (the contract's amount is HT, in cents).
THRESHOLD_CENTS = 40_000 * 100
# §4.1: within two months of the notification.
DEADLINE_MONTHS = 2
# The buying side is reminded this many days before the deadline, if the record is still unpublished.
REMINDER_LEAD_DAYS = 14
TECHNIQUE = "Système d'acquisition dynamique"
REMINDER_KIND = "decp.deadline"


@dataclass(frozen=True, slots=True)
class DecpDefaults:
    """§4.2's mapping for this product [INFER]: what a deployment may change."""

    nature: str = "Marché"
    ccag: str = "Techniques de l'information et de la communication"
    # R2162-38: a SAD above the EU thresholds runs under the restricted procedure's rules (§1.7's thresholds).
    procedure_above: str = "Appel d'offres restreint"
    procedure_below: str = "Procédure adaptée"
    eu_threshold_cents: int = 221_000 * 100
    forme_prix: str = "Forfaitaire"
    types_prix: tuple[str, ...] = ("Définitif ferme",)
    modalites: tuple[str, ...] = ("Sans objet",)
    # The contract's initial duration is not captured by the platform yet: this many months.
    duree_mois: int = 36
    marche_innovant: bool = False
    attribution_avance: bool = False
    sous_traitance_declaree: bool = False
    groupement: str = "Pas de groupement"
    considerations_sociales: tuple[str, ...] = ("Pas de considération sociale",)
    considerations_environnementales: tuple[str, ...] = ("Pas de considération environnementale",)
    extra: dict[str, Any] = field(default_factory=dict)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it has none (31 Dec + 2 months = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(notified_at: datetime) -> date:
    """§4.1: the last day to publish, two months after the notification's date in Paris."""
    return add_months(to_paris(notified_at).date(), DEADLINE_MONTHS)


def deadline_instant(day: date) -> datetime:
    """The instant `day` ends in Paris: the publication is on time until then."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)


def decp_id(contract: Contract) -> str:
    """The buyer's internal number (1–16 characters, none of `& " \\ <` space `,` `;`): the year of the contract's
    creation and the last 12 hex digits of its UUIDv7 (its random part)."""
    return f"{contract.created_at.year}{contract.id.hex[-12:]}"


def euros(cents: int) -> int | float:
    return cents // 100 if cents % 100 == 0 else cents / 100


def canonical_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def document(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"marches": {"marche": list(records)}}


@dataclass(frozen=True, slots=True)
class _Facts:
    contract: Contract
    buyer: Organisation
    vendor: Organisation
    need: Need
    offers: int
    notified_at: datetime


class DecpService:
    def __init__(self, session: AsyncSession, clock: Clock, publisher: DecpPublisher,
                 defaults: DecpDefaults | None = None) -> None:
        self.session = session
        self.clock = clock
        self.publisher = publisher
        self.defaults = defaults or DecpDefaults()
        self.notifications = NotificationService(session, clock)

    # -- the obligations -----------------------------------------------------------------------------------

    async def track(self) -> list[DecpObligation]:
        """An obligation for every notified, real contract at or above the threshold that has none yet."""
        rows = (await self.session.execute(
            select(Contract, ContractTransition.at)
            .join(ContractTransition, (ContractTransition.contract_id == Contract.id)
                  & (ContractTransition.action == "notified"))
            .join(SpecificContract, SpecificContract.id == Contract.specific_contract_id)
            .join(Need, Need.id == SpecificContract.need_id)
            .join(Dps, Dps.id == SpecificContract.dps_id)
            .outerjoin(DecpObligation, DecpObligation.contract_id == Contract.id)
            .where(Contract.amount_cents >= THRESHOLD_CENTS, Dps.sandbox_factor.is_(None), Need.sandbox.is_(False),
                   DecpObligation.id.is_(None)))).all()
        created = []
        for contract, notified_at in rows:
            obligation = DecpObligation(contract_id=contract.id, buyer_organisation_id=contract.buyer_organisation_id,
                                        notified_at=notified_at, due_on=due_on(notified_at))
            self.session.add(obligation)
            created.append(obligation)
        await self.session.flush()
        return created

    async def pending_for_buying_side(self, principal: Principal) -> list[PendingItem]:
        """§4.1 on the work queue, in one query: the contracts of the caller's buying side whose essential data are
        still unpublished, for its administrators, soonest due first (due at the end of `due_on`, Paris time)."""
        organisations = principal.organisations_with(*BUYER_ADMINS)
        if not organisations:
            return []
        rows = (await self.session.execute(
            select(DecpObligation.due_on, Contract.specific_contract_id, Need.title)
            .join(Contract, Contract.id == DecpObligation.contract_id)
            .join(SpecificContract, SpecificContract.id == Contract.specific_contract_id)
            .join(Need, Need.id == SpecificContract.need_id)
            .where(DecpObligation.buyer_organisation_id.in_(organisations), DecpObligation.published_at.is_(None))
            .order_by(DecpObligation.due_on, DecpObligation.id))).all()
        now = self.clock.now()
        return [PendingItem(specific_contract_id=contract_id, contract_title=title, due_at=deadline_instant(due),
                            now=now) for due, contract_id, title in rows]

    async def remind(self) -> list[DecpObligation]:
        """Tell each unpublished obligation's buying side, once, `REMINDER_LEAD_DAYS` before it falls due."""
        today = to_paris(self.clock.now()).date()
        due = list((await self.session.scalars(select(DecpObligation).where(
            DecpObligation.published_at.is_(None), DecpObligation.reminded_at.is_(None),
            DecpObligation.due_on <= today + timedelta(days=REMINDER_LEAD_DAYS))
            .with_for_update(skip_locked=True))).all())
        for obligation in due:
            for email in await member_emails(self.session, obligation.buyer_organisation_id, BUYER_ADMINS):
                await self.notifications.notify(
                    recipient_email=email, kind=REMINDER_KIND, about=obligation.contract_id,
                    subject="Données essentielles du marché à publier",
                    body=(f"Le marché notifié le {format_paris(obligation.notified_at)} doit voir ses données "
                          "essentielles publiées sur le portail national des données ouvertes au plus tard le "
                          f"{obligation.due_on.strftime('%d/%m/%Y')} (deux mois après sa notification). La "
                          "publication n'a pas encore abouti."))
            obligation.reminded_at = self.clock.now()
        await self.session.flush()
        return due

    # -- publishing ----------------------------------------------------------------------------------------

    async def publish_due(self) -> list[DecpRecord]:
        """Publish every record owed and not yet published: the marchés first, then their new modifications."""
        published: list[DecpRecord] = []
        owed = list((await self.session.scalars(select(DecpObligation).where(
            DecpObligation.published_at.is_(None)).order_by(DecpObligation.due_on)
            .with_for_update(skip_locked=True))).all())
        for obligation in owed:
            facts = await self._facts(obligation.contract_id)
            record = self._marche(facts)
            try:
                receipt = await self.publisher.publish(f"decp-{record['id']}.json", document([record]))
            except PublicationFailed as exc:
                log.warning("decp.publication_failed", extra={"contract": str(obligation.contract_id),
                                                              "error": str(exc)})
                continue
            published.append(self._store(facts.contract.id, 0, None, record))
            obligation.published_at = self.clock.now()
            obligation.portal_receipt = receipt
        published += await self._append_modifications()
        await self.session.flush()
        return published

    async def _append_modifications(self) -> list[DecpRecord]:
        """§4.1: a modification of a published contract is the next `modifications[]` item, never an edit."""
        rows = (await self.session.execute(
            select(ContractModification)
            .join(DecpObligation, (DecpObligation.contract_id == ContractModification.contract_id)
                  & DecpObligation.published_at.is_not(None))
            .outerjoin(DecpRecord, DecpRecord.modification_id == ContractModification.id)
            .where(DecpRecord.id.is_(None)).order_by(ContractModification.modified_at))).scalars().all()
        appended = []
        for modification in rows:
            sequence = await self.session.scalar(select(func.max(DecpRecord.sequence)).where(
                DecpRecord.contract_id == modification.contract_id)) or 0
            item = {"modification": {
                "id": sequence + 1,
                "dateNotificationModification": to_paris(modification.modified_at).date().isoformat(),
                "datePublicationDonneesModification": to_paris(self.clock.now()).date().isoformat(),
                "montant": euros(modification.amount_cents)}}
            current = await self.records(contract_id=modification.contract_id)
            full = {**current[0], "modifications": [*current[0].get("modifications", []), item]}
            try:
                await self.publisher.publish(f"decp-{full['id']}-m{sequence + 1}.json", document([full]))
            except PublicationFailed as exc:
                log.warning("decp.publication_failed", extra={"contract": str(modification.contract_id),
                                                              "error": str(exc)})
                continue
            appended.append(self._store(modification.contract_id, sequence + 1, modification.id, item))
            await self.session.flush()
        return appended

    def _store(self, contract_id: uuid.UUID, sequence: int, modification_id: uuid.UUID | None,
               payload: dict[str, Any]) -> DecpRecord:
        row = DecpRecord(contract_id=contract_id, sequence=sequence, modification_id=modification_id, payload=payload,
                         published_on=to_paris(self.clock.now()).date(), sha256=canonical_hash(payload))
        self.session.add(row)
        return row

    # -- reading -------------------------------------------------------------------------------------------

    async def records(self, *, contract_id: uuid.UUID | None = None, limit: int = 1000,
                      offset: int = 0) -> list[dict[str, Any]]:
        """The published marchés, each with its modifications appended, oldest first."""
        query = select(DecpRecord).where(DecpRecord.sequence == 0)
        if contract_id is not None:
            query = query.where(DecpRecord.contract_id == contract_id)
        heads = list((await self.session.scalars(
            query.order_by(DecpRecord.created_at, DecpRecord.id).limit(limit).offset(offset))).all())
        if not heads:
            return []
        tails: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for row in (await self.session.scalars(select(DecpRecord).where(
                DecpRecord.contract_id.in_([h.contract_id for h in heads]), DecpRecord.sequence > 0)
                .order_by(DecpRecord.sequence))).all():
            tails.setdefault(row.contract_id, []).append(row.payload)
        out = []
        for head in heads:
            record = dict(head.payload)
            if head.contract_id in tails:
                record["modifications"] = tails[head.contract_id]
            out.append(record)
        return out

    # -- building ------------------------------------------------------------------------------------------

    async def _facts(self, contract_id: uuid.UUID) -> _Facts:
        contract = await self.session.get_one(Contract, contract_id)
        sc = await self.session.get_one(SpecificContract, contract.specific_contract_id)
        need = await self.session.get_one(Need, sc.need_id)
        buyer = await self.session.get_one(Organisation, contract.buyer_organisation_id)
        vendor = await self.session.get_one(Organisation, contract.vendor_organisation_id)
        # §4.2 `offresRecues`: every offer received (opened), irregular or abnormally low ones included.
        offers = await self.session.scalar(select(func.count()).select_from(Offer).where(
            Offer.specific_contract_id == sc.id, Offer.status == OfferStatus.OPENED)) or 0
        notified_at = await self.session.scalar(select(ContractTransition.at).where(
            ContractTransition.contract_id == contract.id, ContractTransition.action == "notified"))
        assert notified_at is not None
        return _Facts(contract, buyer, vendor, need, offers, notified_at)

    def _marche(self, facts: _Facts) -> dict[str, Any]:
        d, contract, need = self.defaults, facts.contract, facts.need
        facilities = [str(f["finessEt"]) for f in need.facilities if f.get("finessEt")]
        place = ({"code": departement_of_finess(facilities[0]), "typeCode": "Code département"} if facilities
                 else {"code": "FR", "typeCode": "Code pays"})
        return {
            "id": decp_id(contract),
            "acheteur": {"id": facts.buyer.siret},
            "nature": d.nature,
            "objet": need.title[:1000],
            "codeCPV": need.cpv_codes[0] if need.cpv_codes else "48000000",
            "techniques": {"technique": [TECHNIQUE]},
            "modalitesExecution": {"modaliteExecution": list(d.modalites)},
            "marcheInnovant": d.marche_innovant,
            "ccag": d.ccag,
            "offresRecues": max(facts.offers, 1),
            "attributionAvance": d.attribution_avance,
            "typeGroupementOperateurs": d.groupement,
            "procedure": d.procedure_above if contract.amount_cents >= d.eu_threshold_cents else d.procedure_below,
            "lieuExecution": place,
            "dureeMois": d.duree_mois,
            "dateNotification": to_paris(facts.notified_at).date().isoformat(),
            "datePublicationDonnees": to_paris(self.clock.now()).date().isoformat(),
            "montant": euros(contract.amount_cents),
            "typesPrix": {"typePrix": list(d.types_prix)},
            "formePrix": d.forme_prix,
            "sousTraitanceDeclaree": d.sous_traitance_declaree,
            "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": facts.vendor.siret}}],
            "considerationsSociales": {"considerationSociale": list(d.considerations_sociales)},
            "considerationsEnvironnementales": {
                "considerationEnvironnementale": list(d.considerations_environnementales)},
            **d.extra,
        }
