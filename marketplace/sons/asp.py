"""The ASP side of an order (SN5–SN7): its advance, the amendments of the advance and its balance, each a request
with its ASP status history; the cancellation and the expiry.

The vendor files: the advance once the order is signed (its amount is the calendar's advance ratio of the TTC,
before the advance deadline); amendments once the advance is paid and until the balance (each adding to the advance,
never past the TTC); the balance once the OG signed its acceptance, with the single invoice for 100 % of the order
(a Factur-X PDF whose TTC total is the order's and whose buyer is the acceptance's signatory, SN7), every amendment
settled (SN5), the MSS case equal to the VA's where the dispositif's calendar asks for it (SN6), for the rest of the
TTC. It files again a request the ASP found INCOMPLETE or TO_MODIFY.

The operator (platform admin) records each status the ASP gives a request, as its portal or status file shows it;
each move is checked against SN5's table (`states.asp_allows`), refused 409 otherwise: DECIDED_PAID and REJECTED are
final, so nothing is paid twice, and what is paid is at most the request's amount and, summed over the order, at
most its TTC (a database constraint holds both). The advance's and the balance's statuses move the order (§12's
machine); an amendment's doesn't. The operator also records the ASP's cancellation on the vendor's sworn statement
(the paid amount then to be recovered) and expires the orders past their dispositif's deployment deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable

from sqlalchemy import func, select, update

from marketplace.accounts.principal import Principal
from marketplace.errors import NotFound, RuleViolation
from marketplace.lib.clock import format_paris
from marketplace.sons import schemas
from marketplace.sons.access import order_for
from marketplace.sons.dispositifs import current_calendar
from marketplace.sons.errors import (
    AmendmentPending,
    AspTransitionRefused,
    DeadlinePassed,
    InvoiceRefused,
    MssMismatch,
    OrderStage,
)
from marketplace.sons.invoices import InvoiceUnreadable, read_invoice, same_name
from marketplace.sons.models import SonsAspEvent, SonsAspRequest, SonsCalendar, SonsOrder, SonsOrderSite
from marketplace.sons.orders import OrderService
from marketplace.sons.states import (
    AMENDABLE,
    CANCELLABLE,
    FINAL,
    ORDER_MOVES,
    RELEASES_BENEFICIARIES,
    SETTLED,
    AspStatus,
    MssCase,
    OrderStatus,
    RequestKind,
    asp_allows,
    order_allows,
    order_state_for,
)
from marketplace.uploads import check_declared, read_limited

INVOICE_TYPES = ["application/pdf"]
_NO_REQUEST = "No ASP request of a SONS order has this id."


class AspService(OrderService):
    # -- the vendor files ------------------------------------------------------------------------------------

    async def _file(self, principal: Principal, order: SonsOrder, kind: RequestKind, amount: int, *,
                    position: int = 0, mss_case: MssCase | None = None,
                    invoice: dict[str, object] | None = None) -> SonsAspRequest:
        now = self.clock.now()
        request = SonsAspRequest(order_id=order.id, kind=kind, position=position, amount_cents=amount,
                                 status=AspStatus.REQUESTED, mss_case=mss_case, invoice=invoice,
                                 filed_by=principal.label, filed_at=now)
        self.session.add(request)
        await self.session.flush()
        self.session.add(SonsAspEvent(request_id=request.id, status=AspStatus.REQUESTED, recorded_by=principal.label,
                                      recorded_at=now))
        state = order_state_for(kind, AspStatus.REQUESTED)
        if state is not None:
            order.status = state
        await self.session.flush()
        await self._audit(principal, f"sons_order.{kind.value}_filed", organisation_id=order.vendor_organisation_id,
                          target_type="sons_asp_request", target_id=request.id, order=str(order.id),
                          amount_cents=amount, position=position)
        return request

    async def file_advance(self, principal: Principal, order_id: uuid.UUID) -> schemas.Order:
        order = await order_for(self.session, principal, order_id, act="vendor", lock=True)
        if not order_allows("file_advance", order.status):
            raise OrderStage(f"status: the order is {order.status.value}; its advance is filed once it is signed",
                             field="status", rule="SN5")
        calendar = await current_calendar(self.session, order.dispositif_id)
        if self.clock.now() >= calendar.advance_deadline:
            raise DeadlinePassed(f"status: SN1: advances of this dispositif were filed until "
                                 f"{format_paris(calendar.advance_deadline)}", field="status", rule="SN1")
        # SN1: the advance is the calendar's share of the TTC, rounded down to the cent (the balance takes the rest).
        await self._file(principal, order, RequestKind.ADVANCE,
                         order.amount_ttc_cents * calendar.advance_ratio_bp // 10_000)
        return await self.view(order)

    async def _requests(self, order: SonsOrder) -> list[SonsAspRequest]:
        return list((await self.session.scalars(select(SonsAspRequest).where(SonsAspRequest.order_id == order.id)
                                                .order_by(SonsAspRequest.filed_at, SonsAspRequest.id))).all())

    async def file_amendment(self, principal: Principal, order_id: uuid.UUID,
                             data: schemas.AmendmentCreate) -> schemas.Order:
        order = await order_for(self.session, principal, order_id, act="vendor", lock=True)
        if order.status not in AMENDABLE:
            raise OrderStage(f"status: SN5: the order is {order.status.value}; the advance is amended once paid and "
                             "until the balance is filed", field="status", rule="SN5")
        requests = await self._requests(order)
        committed = sum(r.amount_cents for r in requests if r.status is not AspStatus.REJECTED)
        if committed + data.amount_cents > order.amount_ttc_cents:
            raise RuleViolation(f"amountCents: SN5: the advance and its amendments come to at most the order's TTC "
                                f"({order.amount_ttc_cents} cents); {committed} are requested already",
                                field="amountCents", rule="SN5")
        position = 1 + sum(1 for r in requests if r.kind is RequestKind.AMENDMENT)
        await self._file(principal, order, RequestKind.AMENDMENT, data.amount_cents, position=position)
        return await self.view(order)

    async def file_balance(self, principal: Principal, order_id: uuid.UUID, *, mss_case: MssCase | None,
                           declared_type: str, declared_size: int | None,
                           body: AsyncIterable[bytes]) -> schemas.Order:
        order = await order_for(self.session, principal, order_id, act="vendor", lock=True)
        if not order_allows("file_balance", order.status):
            raise OrderStage(f"status: SN7: the order is {order.status.value}; the balance is filed once the client "
                             "signed its acceptance (VA or MOM)", field="status", rule="SN7")
        calendar = await current_calendar(self.session, order.dispositif_id)
        now = self.clock.now()
        if now >= calendar.balance_deadline:
            raise DeadlinePassed(f"status: SN1: balances of this dispositif were filed until "
                                 f"{format_paris(calendar.balance_deadline)}", field="status", rule="SN1")
        requests = await self._requests(order)
        pending = [r for r in requests if r.kind is RequestKind.AMENDMENT and r.status not in SETTLED]
        if pending:
            raise AmendmentPending(f"status: SN5: amendment {pending[0].position} of the advance is "
                                   f"{pending[0].status.value}; the balance waits until it is DECIDED_PAID",
                                   field="status", rule="SN5", amendment=str(pending[0].id))
        self._mss(calendar, order, mss_case, now)
        media_type = check_declared(declared_type, declared_size, INVOICE_TYPES, 20 * 1024 * 1024, "an invoice")
        data = await read_limited(body, 20 * 1024 * 1024, "an invoice")
        invoice = self._invoice(order, data)
        # Everything not paid yet of the TTC (the advance and the amendments are decided, or rejected).
        amount = order.amount_ttc_cents - order.paid_cents
        await self._keep(principal, order, "invoice", data, media_type, verification=None,
                         filename=f"facture-{invoice['number']}.pdf")
        await self._file(principal, order, RequestKind.BALANCE, amount, mss_case=mss_case, invoice=invoice)
        return await self.view(order)

    @staticmethod
    def _mss(calendar: SonsCalendar, order: SonsOrder, mss_case: MssCase | None, now: object) -> None:
        """SN6: for MS1/MS2 (a calendar with its MSS instant), a balance filed from that instant carries the VA's
        "Déploiement MSS" case."""
        if calendar.mss_indicator_from is None or now < calendar.mss_indicator_from:  # type: ignore[operator]
            return
        if mss_case is None:
            raise MssMismatch("mssCase: SN6: a balance of this dispositif carries its \"Déploiement MSS\" case",
                              field="mssCase", rule="SN6")
        if mss_case is not order.acceptance_mss_case:
            shown = order.acceptance_mss_case.value if order.acceptance_mss_case else "none"
            raise MssMismatch(f"mssCase: SN6: the balance says {mss_case.value}, the VA {shown}; they are the same",
                              field="mssCase", rule="SN6", vaMssCase=shown)

    @staticmethod
    def _invoice(order: SonsOrder, data: bytes) -> dict[str, object]:
        """SN7: one Factur-X invoice for 100 % of the order, in the name of the acceptance's signatory."""
        try:
            invoice = read_invoice(data)
        except InvoiceUnreadable as exc:
            raise InvoiceRefused(f"body: SN7: {exc}", field="body", rule="SN7", check="facturx") from None
        if invoice.grand_total_cents != order.amount_ttc_cents:
            raise InvoiceRefused(f"body: SN7: the invoice's total with VAT is {invoice.grand_total_cents} cents, the "
                                 f"order's TTC {order.amount_ttc_cents}: one invoice is for 100 % of the order",
                                 field="body", rule="SN7", check="total", invoiceTotalCents=invoice.grand_total_cents)
        if invoice.tax_basis_cents != order.amount_ht_cents:
            raise InvoiceRefused(f"body: SN7: the invoice's total without VAT is {invoice.tax_basis_cents} cents, the "
                                 f"order's HT {order.amount_ht_cents}", field="body", rule="SN7", check="total_ht")
        if order.acceptance_signatory is None or not same_name(invoice.buyer_name, order.acceptance_signatory):
            raise InvoiceRefused(f"body: SN7: the invoice is in the name of {invoice.buyer_name!r}; the acceptance was "
                                 f"signed by {order.acceptance_signatory!r}, whose name it bears", field="body",
                                 rule="SN7", check="buyer")
        return {"number": invoice.number, "buyerName": invoice.buyer_name,
                "taxBasisCents": invoice.tax_basis_cents, "grandTotalCents": invoice.grand_total_cents,
                "currency": invoice.currency}

    # -- the ASP's statuses ----------------------------------------------------------------------------------

    async def _request(self, principal: Principal, request_id: uuid.UUID,
                       act: str) -> tuple[SonsAspRequest, SonsOrder]:
        order_id = await self.session.scalar(select(SonsAspRequest.order_id).where(SonsAspRequest.id == request_id))
        if order_id is None:
            raise NotFound(_NO_REQUEST)
        try:
            order = await order_for(self.session, principal, order_id, act=act, lock=True)
        except NotFound:
            raise NotFound(_NO_REQUEST) from None
        request = await self.session.scalar(select(SonsAspRequest).where(SonsAspRequest.id == request_id)
                                            .with_for_update().execution_options(populate_existing=True))
        assert request is not None
        return request, order

    async def _move(self, principal: Principal, request: SonsAspRequest, order: SonsOrder, target: AspStatus, *,
                    note: str | None = None, paid: int | None = None) -> None:
        if order.status in FINAL:
            raise OrderStage(f"status: SN5: the order is {order.status.value}; its requests no longer move",
                             field="status", rule="SN5")
        if not asp_allows(request.kind, request.status, target):
            raise AspTransitionRefused(f"status: SN5: a {request.kind.value} request {request.status.value} does not "
                                       f"become {target.value}", field="status", rule="SN5",
                                       current=request.status.value)
        expected = order_state_for(request.kind, request.status)
        if expected is not None and order.status is not expected:
            # The order moved on without this request (never by the machine itself): refuse rather than rewind it.
            raise OrderStage(f"status: SN5: the order is {order.status.value}, not {expected.value}", field="status",
                             rule="SN5")
        paid_now: int | None = None
        if target is AspStatus.DECIDED_PAID:
            paid_now = request.amount_cents if paid is None else paid
            if paid_now > request.amount_cents:
                raise RuleViolation(f"paidCents: SN5: the ASP pays at most the request's {request.amount_cents} cents",
                                    field="paidCents", rule="SN5")
            if order.paid_cents + paid_now > order.amount_ttc_cents:
                raise RuleViolation(f"paidCents: SN5: {order.paid_cents} cents are paid already; the order's TTC "
                                    f"({order.amount_ttc_cents}) is never exceeded", field="paidCents", rule="SN5")
            order.paid_cents += paid_now
            request.paid_cents = paid_now
        elif paid is not None:
            raise RuleViolation("paidCents: only a DECIDED_PAID status records a payment", field="paidCents",
                                rule="SN5")
        previous = request.status
        request.status = target
        self.session.add(SonsAspEvent(request_id=request.id, status=target, previous=previous, note=note,
                                      paid_cents=paid_now, recorded_by=principal.label, recorded_at=self.clock.now()))
        state = order_state_for(request.kind, target)
        if state is not None:
            order.status = state
            if state in RELEASES_BENEFICIARIES:
                await self._release(order)
        await self.session.flush()
        await self._audit(principal, "sons_asp_request.status_recorded", organisation_id=order.vendor_organisation_id,
                          target_type="sons_asp_request", target_id=request.id, order=str(order.id),
                          kind=request.kind.value, previous=previous.value, status=target.value, paid_cents=paid_now,
                          note=note)

    async def record_status(self, principal: Principal, request_id: uuid.UUID,
                            data: schemas.AspStatusCreate) -> schemas.Order:
        request, order = await self._request(principal, request_id, "operator")
        await self._move(principal, request, order, data.status, note=data.note, paid=data.paid_cents)
        return await self.view(order)

    async def record_from_file(self, principal: Principal, request_id: uuid.UUID, status: AspStatus, *,
                               paid: int | None, note: str | None) -> tuple[SonsAspRequest, SonsOrder, bool]:
        """A row of the ASP's status file (asp_statuses.py): the request's current status at the ASP. Applied
        like the operator's record when it differs from the recorded one; left alone (False) when it says what
        is recorded already, so that a file imported twice records nothing twice."""
        request, order = await self._request(principal, request_id, "operator")
        if request.status is status and (status is not AspStatus.DECIDED_PAID or paid in (None, request.paid_cents)):
            return request, order, False
        await self._move(principal, request, order, status, note=note, paid=paid)
        return request, order, True

    async def refile(self, principal: Principal, request_id: uuid.UUID) -> schemas.Order:
        """SN5: the vendor files again a request the ASP found INCOMPLETE or TO_MODIFY."""
        request, order = await self._request(principal, request_id, "vendor")
        if request.status not in (AspStatus.INCOMPLETE, AspStatus.TO_MODIFY):
            raise AspTransitionRefused(f"status: SN5: the request is {request.status.value}; it is filed again once "
                                       "the ASP found it INCOMPLETE or TO_MODIFY", field="status", rule="SN5")
        await self._move(principal, request, order, AspStatus.REQUESTED, note="filed again")
        return await self.view(order)

    # -- ends ------------------------------------------------------------------------------------------------

    async def _release(self, order: SonsOrder) -> None:
        """SN4: an order cancelled, expired or rejected no longer holds its sites' Ségur service."""
        await self.session.execute(update(SonsOrderSite).where(SonsOrderSite.order_id == order.id)
                                   .values(holds=False))

    async def cancel(self, principal: Principal, order_id: uuid.UUID,
                     data: schemas.CancellationCreate) -> schemas.Order:
        order = await order_for(self.session, principal, order_id, act="operator", lock=True)
        if order.status not in CANCELLABLE:
            raise OrderStage(f"status: the order is {order.status.value}; only an order not paid nor ended is "
                             "cancelled", field="status", rule="SN5")
        order.status, order.cancelled_at = OrderStatus.CANCELLED, self.clock.now()
        order.sworn_statement, order.client_renunciation = data.sworn_statement.strip(), data.client_renunciation
        # §5.3: what the ASP paid is recovered by an "ordre de recouvrement".
        order.recovery_cents = order.paid_cents or None
        await self._release(order)
        await self.session.flush()
        await self._audit(principal, "sons_order.cancelled", organisation_id=order.vendor_organisation_id,
                          target_type="sons_order", target_id=order.id, recovery_cents=order.recovery_cents,
                          client_renunciation=data.client_renunciation)
        return await self.view(order)

    async def expire(self, principal: Principal | str) -> list[schemas.Order]:
        """§12: the orders deployed or accepted still open past their dispositif's deployment deadline (in force
        now) expire; funding lost."""
        now = self.clock.now()
        latest = (select(SonsCalendar.dispositif_id, func.max(SonsCalendar.version).label("version"))
                  .group_by(SonsCalendar.dispositif_id).subquery())
        due = (select(SonsOrder.id).join(latest, latest.c.dispositif_id == SonsOrder.dispositif_id)
               .join(SonsCalendar, (SonsCalendar.dispositif_id == latest.c.dispositif_id)
                     & (SonsCalendar.version == latest.c.version))
               .where(SonsOrder.status.in_(ORDER_MOVES["expire"][0]), SonsCalendar.deployment_deadline <= now))
        orders = list((await self.session.scalars(select(SonsOrder).where(SonsOrder.id.in_(due))
                                                  .with_for_update(skip_locked=True))).all())
        if orders:
            await self.session.execute(update(SonsOrderSite).where(SonsOrderSite.order_id.in_([o.id for o in orders]))
                                       .values(holds=False))
        for order in orders:
            order.status, order.expired_at = ORDER_MOVES["expire"][1], now
            await self._audit(principal, "sons_order.expired", organisation_id=order.vendor_organisation_id,
                              target_type="sons_order", target_id=order.id)
        await self.session.flush()
        return await self.views(orders)
