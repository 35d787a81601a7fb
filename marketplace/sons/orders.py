"""Orders (bons de commande, §5.3 step 3, §5.4): drafted by the vendor for a holder's OG and one or more of its sites,
signed by the OG; then deployed by the vendor and accepted by the OG (its VA or MOM, SN7).

The vendor drafts the order with its referenced solution (active, its own) and one of the solution's installation
scenarios, the tranche of the dispositif's ceiling table in force and the amounts: HT within the tranche's ceiling
(SN1), the VAT rate of the tranche (or none for a vendor enrolled as not liable), TTC to the cent; a SaaS solution's
order says its subscription is excluded (SN2); an order before the solution's referencing carries the AF's mention
(SN3). Each site is one of the OG's: a FINESS ET the OG registered under its FINESS EJ, or a SIRET of the OG's SIREN
(§2.3). A site gets one Ségur service per dispositif and wave (SN4): an order naming a site another live order holds
on the same dispositif and wave is refused, and a unique index refuses it at the database too.

The OG's admin or project lead signs it, with a signed document checked offline as a contract's signature is (G16:
PAdES, CAdES or XAdES, integrity, validity and revocation at signing time, chain; an eIDAS signature of any level is
accepted, as the ASP accepts a CPx card, Pro Santé Connect or an RGS certificate), its method recorded; not after the
order deadline of the dispositif's calendar in force (SN1), and for an order before referencing, not earlier than the
calendar's pre-referencing window (120 days in the AF) before the solution's complete proof file (SN3).

`(vendor, orderRef)` is the order's natural key: a later bulk import upserts on it.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterable
from datetime import timedelta
from typing import Any

import anyio.to_thread
import msgspec
from sqlalchemy import select

from marketplace.accounts.models import Facility, Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import OrganisationKind
from marketplace.awards.contracts import SIGNATURE_TYPES, signature_refusal
from marketplace.errors import RuleViolation
from marketplace.lib import esign
from marketplace.lib.clock import format_paris, to_paris
from marketplace.sons import schemas
from marketplace.sons.access import order_for, vendor_acting, visible_orders
from marketplace.sons.base import DOCUMENT_MAX_BYTES, STORE_PREFIX, SonsBase
from marketplace.sons.checks import check_mention, check_order, is_pre_referencing, load_lookups
from marketplace.sons.dispositifs import current_calendar
from marketplace.sons.errors import (
    DeadlinePassed,
    OrderStage,
    PreReferencingRefused,
    SolutionUnavailable,
)
from marketplace.sons.models import (
    SonsAspEvent,
    SonsAspRequest,
    SonsCalendar,
    SonsDispositif,
    SonsDocument,
    SonsOrder,
    SonsOrderSite,
    SonsSolution,
)
from marketplace.sons.solutions import solution_schema
from marketplace.sons.states import (
    ORDER_MOVES,
    MssCase,
    OrderStatus,
    SignatureMethod,
    order_allows,
)
from marketplace.tenders.offers import audit_apart
from marketplace.uploads import check_declared, read_limited
from storage import ObjectStore


def _stage(action: str, order: SonsOrder, what: str) -> None:
    if not order_allows(action, order.status):
        raise OrderStage(f"status: the order is {order.status.value}; {what}", field="status", rule="SN5")


class OrderService(SonsBase):
    # -- drafting (the vendor) --------------------------------------------------------------------------------

    async def create(self, principal: Principal, data: schemas.OrderCreate) -> schemas.Order:
        solution = await self.session.get(SonsSolution, data.solution_id)
        if solution is None:
            raise SolutionUnavailable("solutionId: no SONS solution has this id", field="solutionId", rule="§5.2")
        vendor_id = vendor_acting(principal, solution.vendor_organisation_id)
        # The guards the bulk import applies too, on what they read loaded the same way (checks.py).
        lookups = await load_lookups(self.session, self.clock.now(), vendor_id, [data])
        checked = check_order(lookups, vendor_id, data)
        order = checked.order(data, vendor_id, principal.label)
        self.session.add(order)
        await self.session.flush()
        self.session.add_all(checked.site_rows(order.id))
        await self.session.flush()
        await self._audit(principal, "sons_order.drafted", organisation_id=vendor_id, target_type="sons_order",
                          target_id=order.id, order_ref=order.order_ref, holder=str(checked.og.id),
                          dispositif=checked.dispositif.code, wave=checked.dispositif.wave,
                          tranche=order.tranche, amount_ht_cents=order.amount_ht_cents,
                          amount_ttc_cents=order.amount_ttc_cents, sites=[s["beneficiary"] for s in checked.sites])
        return await self.view(order)

    # -- the client's signatures (G16) -----------------------------------------------------------------------

    async def _signed_document(self, principal: Principal, order: SonsOrder, kind: str, *, declared_type: str,
                               declared_size: int | None, body: AsyncIterable[bytes]) -> SonsDocument:
        """G16: the signed document checked offline as a contract's signature is, then kept; a refusal is audited
        apart (the request's transaction rolls back with it)."""
        media_type = check_declared(declared_type, declared_size, list(SIGNATURE_TYPES), DOCUMENT_MAX_BYTES,
                                    "a signed order" if kind == "order" else "a signed acceptance")
        data = await read_limited(body, DOCUMENT_MAX_BYTES, "a signed document")
        report = await anyio.to_thread.run_sync(functools.partial(esign.verify, data, self.signature_policy.trust))
        # §5.3: the ASP takes a handwritten or an electronic signature of at least the eIDAS simple level (CPx card,
        # Pro Santé Connect, RGS software certificate): a valid signature, qualified or not.
        refusal = signature_refusal(report, media_type, require_qualified=False)
        if refusal is not None:
            if self.side_sessions is not None:
                await audit_apart(self.side_sessions, self.clock, f"sons_order.{kind}_signature_refused",
                                  actor=principal.label, organisation_id=order.holder_organisation_id,
                                  target_type="sons_order", target_id=order.id,
                                  details={"sha256": hashlib.sha256(data).hexdigest(), "rule": "G16",
                                           "check": refusal.extra.get("check"), "detail": refusal.detail})
            raise refusal
        return await self._keep(principal, order, kind, data, media_type, verification=msgspec.to_builtins(report))

    async def _keep(self, principal: Principal, order: SonsOrder, kind: str, data: bytes, media_type: str, *,
                    verification: dict[str, Any] | None, filename: str | None = None) -> SonsDocument:
        assert self.store is not None
        position = len((await self.session.scalars(select(SonsDocument.id).where(
            SonsDocument.order_id == order.id, SonsDocument.kind == kind))).all())
        key = ObjectStore.new_key(STORE_PREFIX)
        stored = await self.store.put_bytes(key, data, content_type=media_type, metadata={"sons-order": str(order.id)})
        try:
            row = SonsDocument(order_id=order.id, kind=kind, position=position, object_key=key, size=stored.size,
                               sha256=stored.sha256, filename=filename or f"{kind}-{order.order_ref}"[:300],
                               content_type=media_type, verification=verification, uploaded_by=principal.label,
                               uploaded_at=self.clock.now())
            self.session.add(row)
            await self.session.flush()
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        return row

    async def sign(self, principal: Principal, order_id: uuid.UUID, *, signatory_name: str,
                   signatory_role: str | None, method: SignatureMethod, declared_type: str, declared_size: int | None,
                   body: AsyncIterable[bytes]) -> schemas.Order:
        order = await order_for(self.session, principal, order_id, act="holder", lock=True)
        _stage("sign", order, "it is signed once, as a draft")
        now = self.clock.now()
        # SN1: the calendar in force now (a later arrêté may have moved the deadline); the order keeps it.
        calendar = await current_calendar(self.session, order.dispositif_id)
        if now >= calendar.order_deadline:
            raise DeadlinePassed(f"signedAt: SN1: orders of this dispositif were signed until "
                                 f"{format_paris(calendar.order_deadline)}", field="signedAt", rule="SN1",
                                 deadline=calendar.order_deadline.isoformat())
        solution = await self.session.get(SonsSolution, order.solution_id)
        assert solution is not None
        if is_pre_referencing(solution, now):
            check_mention(order.pre_referencing_mention)
            proof = solution.proof_file_submitted_on
            days = calendar.pre_referencing_days
            if proof is None or to_paris(now).date() < proof - timedelta(days=days):
                raise PreReferencingRefused(
                    f"signedAt: SN3: an order before referencing is signed at most {days} days before the solution's "
                    f"complete proof file ({proof.isoformat() if proof else 'not submitted yet'})", field="signedAt",
                    rule="SN3")
            order.pre_referencing = True
        document = await self._signed_document(principal, order, "order", declared_type=declared_type,
                                               declared_size=declared_size, body=body)
        order.status = ORDER_MOVES["sign"][1]
        order.signed_at, order.calendar_id = now, calendar.id
        order.signatory_name, order.signatory_role, order.signature_method = (
            signatory_name.strip(), signatory_role.strip() if signatory_role else None, method)
        await self.session.flush()
        await self._audit(principal, "sons_order.signed", organisation_id=order.holder_organisation_id,
                          target_type="sons_order", target_id=order.id, method=method.value,
                          sha256=document.sha256, calendar_version=calendar.version,
                          pre_referencing=order.pre_referencing)
        return await self.view(order)

    async def deploy(self, principal: Principal, order_id: uuid.UUID) -> schemas.Order:
        order = await order_for(self.session, principal, order_id, act="vendor", lock=True)
        _stage("deploy", order, "the solution is deployed once the advance is paid")
        calendar = await current_calendar(self.session, order.dispositif_id)
        now = self.clock.now()
        if now >= calendar.deployment_deadline:
            raise DeadlinePassed(f"status: SN1: deployments of this dispositif were due by "
                                 f"{format_paris(calendar.deployment_deadline)}", field="status", rule="SN1")
        order.status, order.deployed_at = ORDER_MOVES["deploy"][1], now
        await self.session.flush()
        await self._audit(principal, "sons_order.deployed", organisation_id=order.vendor_organisation_id,
                          target_type="sons_order", target_id=order.id)
        return await self.view(order)

    async def accept(self, principal: Principal, order_id: uuid.UUID, *, signatory_name: str,
                     mss_case: MssCase | None, mss_address: str | None, declared_type: str,
                     declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.Order:
        """SN7: the OG signs its VA (or MOM) once deployed; for MS1/MS2 (a calendar with an MSS instant) with its
        "Déploiement MSS" case (SN6)."""
        order = await order_for(self.session, principal, order_id, act="holder", lock=True)
        _stage("accept", order, "the acceptance is signed once the solution is deployed")
        calendar = await current_calendar(self.session, order.dispositif_id)
        if calendar.mss_indicator_from is not None and mss_case is None:
            raise RuleViolation("mssCase: SN6: this dispositif's VA carries its \"Déploiement MSS\" case (CAS_1 or "
                                "CAS_2)", field="mssCase", rule="SN6")
        document = await self._signed_document(principal, order, "acceptance", declared_type=declared_type,
                                               declared_size=declared_size, body=body)
        order.status, order.accepted_at = ORDER_MOVES["accept"][1], self.clock.now()
        order.acceptance_signatory, order.acceptance_mss_case, order.mss_address = (
            signatory_name.strip(), mss_case, mss_address)
        await self.session.flush()
        await self._audit(principal, "sons_order.accepted", organisation_id=order.holder_organisation_id,
                          target_type="sons_order", target_id=order.id, sha256=document.sha256,
                          mss_case=mss_case.value if mss_case else None)
        return await self.view(order)

    # -- reading ---------------------------------------------------------------------------------------------

    async def get(self, principal: Principal, order_id: uuid.UUID) -> schemas.Order:
        return await self.view(await order_for(self.session, principal, order_id))

    async def og_choices(self) -> list[schemas.OgChoice]:
        """The OGs an order may be drafted for (holders with a FINESS EJ, as `check_order` requires) with their
        registered facilities, for a vendor's order form to pick from rather than type. FINESS EJ and ET are the
        public FINESS register's identifiers (§2.3), which the bulk import already resolves for any vendor."""
        ogs = list((await self.session.scalars(select(Organisation).where(
            Organisation.kind == OrganisationKind.HOLDER, Organisation.finess_ej.is_not(None))
            .order_by(Organisation.name, Organisation.id))).all())
        facilities: dict[uuid.UUID, list[schemas.OgFacility]] = defaultdict(list)
        if ogs:
            for facility in (await self.session.scalars(select(Facility).where(
                    Facility.organisation_id.in_([o.id for o in ogs])).order_by(Facility.name, Facility.finess_et))):
                facilities[facility.organisation_id].append(schemas.OgFacility(
                    finess_et=facility.finess_et, name=facility.name, category=facility.category_code))
        return [schemas.OgChoice(id=o.id, name=o.name, finess_ej=o.finess_ej or "", siret=o.siret,
                                 facilities=facilities[o.id]) for o in ogs]

    async def list_all(self, principal: Principal, status: OrderStatus | None = None) -> list[schemas.Order]:
        query = visible_orders(principal)
        if status is not None:
            query = query.where(SonsOrder.status == status)
        orders = list((await self.session.scalars(query.order_by(SonsOrder.created_at.desc(),
                                                                 SonsOrder.id.desc()).limit(500))).all())
        return await self.views(orders)

    async def view(self, order: SonsOrder) -> schemas.Order:
        return (await self.views([order]))[0]

    async def views(self, orders: list[SonsOrder]) -> list[schemas.Order]:
        """The orders as read, every related row loaded once for all (no query per order)."""
        if not orders:
            return []
        ids = [o.id for o in orders]
        solutions = {row[0].id: solution_schema(*row) for row in (await self.session.execute(
            select(SonsSolution, Organisation.name, SonsDispositif)
            .join(Organisation, Organisation.id == SonsSolution.vendor_organisation_id)
            .join(SonsDispositif, SonsDispositif.id == SonsSolution.dispositif_id)
            .where(SonsSolution.id.in_({o.solution_id for o in orders})))).all()}
        calendars = {c.id: c for c in (await self.session.scalars(
            select(SonsCalendar).where(SonsCalendar.id.in_({o.calendar_id for o in orders})))).all()}
        sites: dict[uuid.UUID, list[schemas.Site]] = defaultdict(list)
        for site in (await self.session.scalars(select(SonsOrderSite).where(SonsOrderSite.order_id.in_(ids))
                                                .order_by(SonsOrderSite.created_at, SonsOrderSite.id))).all():
            sites[site.order_id].append(schemas.Site(finess_et=site.finess_et, siret=site.siret,
                                                     category=site.category))
        documents: dict[tuple[uuid.UUID, str], SonsDocument] = {}
        for document in (await self.session.scalars(select(SonsDocument).where(SonsDocument.order_id.in_(ids))
                                                    .order_by(SonsDocument.position))).all():
            documents[(document.order_id, document.kind)] = document  # the latest of each kind
        requests = list((await self.session.scalars(select(SonsAspRequest).where(SonsAspRequest.order_id.in_(ids))
                                                    .order_by(SonsAspRequest.filed_at, SonsAspRequest.id))).all())
        history: dict[uuid.UUID, list[schemas.AspEvent]] = defaultdict(list)
        for event in (await self.session.scalars(select(SonsAspEvent).where(
                SonsAspEvent.request_id.in_([r.id for r in requests]))
                .order_by(SonsAspEvent.recorded_at, SonsAspEvent.id))).all() if requests else []:
            history[event.request_id].append(schemas.AspEvent(status=event.status, previous=event.previous,
                                                              note=event.note, paid_cents=event.paid_cents,
                                                              recorded_at=event.recorded_at))
        by_order: dict[uuid.UUID, list[schemas.AspRequest]] = defaultdict(list)
        for r in requests:
            by_order[r.order_id].append(schemas.AspRequest(
                id=r.id, kind=r.kind, position=r.position, amount_cents=r.amount_cents, status=r.status,
                paid_cents=r.paid_cents, mss_case=r.mss_case, invoice=r.invoice, filed_at=r.filed_at,
                history=history[r.id]))
        dispositifs = {d.id: d for d in (await self.session.scalars(
            select(SonsDispositif).where(SonsDispositif.id.in_({o.dispositif_id for o in orders})))).all()}
        out = []
        for o in orders:
            solution, calendar = solutions[o.solution_id], calendars[o.calendar_id]
            signed = documents.get((o.id, "order"))
            accepted = documents.get((o.id, "acceptance"))
            dispositif = dispositifs[o.dispositif_id]
            out.append(schemas.Order(
                id=o.id, order_ref=o.order_ref, status=o.status, vendor_organisation_id=o.vendor_organisation_id,
                holder_organisation_id=o.holder_organisation_id, og_finess_ej=o.og_finess_ej, og_siret=o.og_siret,
                solution=solution, dispositif_code=dispositif.code, wave=o.wave,
                calendar_version=calendar.version, order_deadline=calendar.order_deadline,
                deployment_deadline=calendar.deployment_deadline, installation_scenario=o.installation_scenario,
                tranche=o.tranche, ceiling_ht_cents=o.ceiling_ht_cents, amount_ht_cents=o.amount_ht_cents,
                vat_rate_bp=o.vat_rate_bp, amount_ttc_cents=o.amount_ttc_cents,
                subscription_excluded=o.subscription_excluded, pre_referencing=o.pre_referencing,
                pre_referencing_mention=o.pre_referencing_mention, sites=sites[o.id],
                signature=schemas.Signature(
                    signatory_name=o.signatory_name or "", signatory_role=o.signatory_role,
                    method=o.signature_method or SignatureMethod.EIDAS, signed_at=o.signed_at or signed.uploaded_at,
                    sha256=signed.sha256, verification=signed.verification) if signed is not None else None,
                acceptance=schemas.Acceptance(
                    kind=dispositif.acceptance_kind, signatory_name=o.acceptance_signatory or "",
                    mss_case=o.acceptance_mss_case, mss_address=o.mss_address,
                    accepted_at=o.accepted_at or accepted.uploaded_at, verification=accepted.verification)
                if accepted is not None else None,
                requests=by_order[o.id], paid_cents=o.paid_cents, cancelled_at=o.cancelled_at,
                sworn_statement=o.sworn_statement, recovery_cents=o.recovery_cents, expired_at=o.expired_at,
                created_at=o.created_at, deployed_at=o.deployed_at))
        return out
