"""The award of a specific contract and its notices (machines (c), (e); D10, D15, D16, D18; G8).

The award locks the contract row (`FOR UPDATE`), so concurrent awards queue and every loser finds the
contract decided (409); a partial unique index on live awards backs it at the database (G8). The notices
go out in the same transaction (D16), with the earliest signature date: now, or 11 days later when the
buyer observes a standstill (D18, off by default for DPS specific contracts).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
from sqlalchemy import func, select

from marketplace.accounts.members import member_emails
from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS, Role
from marketplace.awards import schemas
from marketplace.awards.base import GROUNDS_FR, ServiceBase
from marketplace.awards.errors import AbnormallyLowConflict, AlreadyAwarded, RankingIncomplete
from marketplace.awards.models import Award, Contract, ReasonsRequest
from marketplace.awards.ranking import rank
from marketplace.awards.reasons import ReasonsService
from marketplace.awards.states import AFTER_AWARD, AwardStatus, award_status
from marketplace.errors import NotFound, RuleViolation
from marketplace.lib.clock import format_paris
from marketplace.notifications.models import Notification
from marketplace.tenders.access import buying_side
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, can_move, move, require_move

STANDSTILL = timedelta(days=11)       # D18, electronic notices, counted date to date
NOTICE_KINDS = ("award.awarded", "award.rejection_notice")  # D16: what the award sends the vendors


class AwardService(ServiceBase):
    """The award of a specific contract, its notices, and the award as it stands."""

    # -- machine (e): the award ----------------------------------------------------------------------

    async def award(self, principal: Principal, contract_id: uuid.UUID, data: schemas.AwardCreate) -> schemas.Award:
        contract = await self._contract(principal, contract_id, lock=True)
        self._admin(principal, contract, "awards the contract")
        await self._stay_out(principal, contract, "its award")
        if contract.status in AFTER_AWARD or await self._live_award(contract.id) is not None:
            raise AlreadyAwarded("This contract is awarded already: one award per specific contract.",
                                 field="status", rule="G8")
        require_move(contract, SpecificContractStatus.AWARD_DECIDED, "the award follows the evaluation")
        # D15: no award while an offer awaits the decision on its justification, whichever offer is chosen: the
        # suspected offer, if its justification convinces, may rank first and must still be able to win.
        pending = await self._pending_abnormally_low(contract.id)
        if pending:
            raise AbnormallyLowConflict(
                "D15: the award waits for the decision on every abnormally-low procedure of the contract; pending "
                f"for offer(s) {', '.join(str(p.offer_id) for p in pending)}.", field="abnormallyLow", rule="D15",
                offers=[str(p.offer_id) for p in pending])
        ranking, offers = await rank(self.session, contract)
        if not ranking.offers:
            raise RankingIncomplete("No admissible offer is left to award.", field="offers")
        if not ranking.complete:
            raise RankingIncomplete("The ranking is incomplete: every evaluator scores every criterion of every "
                                    "admissible offer before the award.", field="complete")
        chosen = next((r for r in ranking.offers if r.offer_id == data.offer_id), None)
        if chosen is None:
            rejected = any(r.offer_id == data.offer_id for r in ranking.rejected)
            raise RuleViolation("offerId: " + ("this offer was rejected and left the ranking" if rejected else
                                               "not an opened offer of this contract"), field="offerId")
        if chosen.offer_id not in ranking.first_offer_ids:
            # D10, R2162-51: the award goes to the most economically advantageous offer on the notice's criteria,
            # the first of the weighted ranking; a better-ranked offer leaves it only by a reasoned rejection
            # (POST /offers/{id}/rejection, or the D15 procedure), never by a free-text reason here.
            first = next(r for r in ranking.offers if r.offer_id == ranking.first_offer_ids[0])
            raise RuleViolation(
                f"offerId: the award goes to the first offer of the weighted ranking, {first.offer_id} "
                f"({first.vendor_name}, {first.total} / 100); this offer ranks {chosen.rank} ({chosen.total} / 100). "
                "A better-ranked offer leaves the ranking only by a reasoned rejection.", field="offerId",
                rule="D10", firstOfferIds=[str(i) for i in ranking.first_offer_ids])
        now = await self._now(contract)  # D18's 11 days on the contract's clock
        earliest = now + STANDSTILL if data.standstill_required else now
        award = Award(specific_contract_id=contract.id, offer_id=chosen.offer_id,
                      vendor_organisation_id=chosen.vendor_organisation_id,
                      status=AwardStatus.STANDSTILL if data.standstill_required else AwardStatus.ACTIVE,
                      reasons=data.reasons,
                      standstill_required=data.standstill_required, decided_by=principal.label, decided_at=now,
                      notices_sent_at=now, earliest_signature_at=earliest,
                      ranking=msgspec.json.decode(msgspec.json.encode(ranking)))
        self.session.add(award)
        # Machine (c): AWARD_DECIDED, and STANDSTILL at once when one is observed (the notices leave now).
        move(contract, SpecificContractStatus.STANDSTILL if data.standstill_required
             else SpecificContractStatus.AWARD_DECIDED)
        await self.session.flush()
        notices = await self._notify(contract, award, ranking, offers, chosen.vendor_name)
        await self._audit(principal, contract, "specific_contract.awarded", "award", award.id,
                          offer=str(chosen.offer_id), rank=chosen.rank, tied=len(ranking.first_offer_ids) > 1,
                          standstill_required=data.standstill_required, notices=notices)
        return schemas.Award(id=award.id, specific_contract_id=contract.id, offer_id=award.offer_id,
                             vendor_organisation_id=award.vendor_organisation_id, vendor_name=chosen.vendor_name,
                             status=award.status, reasons=award.reasons, departure_reason=award.departure_reason,
                             standstill_required=award.standstill_required, decided_at=now, notices_sent_at=now,
                             earliest_signature_at=earliest, notices=notices,
                             sandbox=await self._sandbox(contract))

    async def get_award(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Award:
        """The contract's award as it stands now: the live one, else the last cancelled one; its status read on
        the contract's clock (a standstill that ended reads ACTIVE, states.award_status). Read by the buying side,
        and by who follows or holds the contract (HC2, HC3)."""
        award = await self._award_schema(await self._readable(principal, contract_id))
        if award is None:
            raise NotFound("This specific contract has no award.")
        return award

    async def award_file(self, principal: Principal, contract_id: uuid.UUID) -> schemas.AwardFile:
        """The award as its buying side works on it (the back-office's award page): the ranking it decides on,
        the award and its notices with their delivery (D16), the vendors' requests for reasons with their 15 days
        (D17), and the contract that follows, if created. The buying side only (else 404, or 403 naming HC2)."""
        contract = await self._contract(principal, contract_id)
        await self._stay_out(principal, contract, "its award")
        award = await self._award_schema(contract)
        ranking = (await rank(self.session, contract))[0] if contract.status in (
            SpecificContractStatus.EVALUATION, *AFTER_AWARD) else None
        notices = (await self.session.scalars(select(Notification).where(
            Notification.about_id == contract.id, Notification.kind.in_(NOTICE_KINDS))
            .order_by(Notification.created_at, Notification.id))).all()
        requests = (await self.session.scalars(select(ReasonsRequest).where(
            ReasonsRequest.specific_contract_id == contract.id).order_by(ReasonsRequest.requested_at))).all()
        vendors = {o.vendor_organisation_id for o in (await self.session.scalars(select(Offer).where(
            Offer.specific_contract_id == contract.id, Offer.status == OfferStatus.OPENED))).all()}
        names = dict((await self.session.execute(select(Organisation.id, Organisation.name).where(
            Organisation.id.in_(vendors)))).all()) if vendors else {}
        return schemas.AwardFile(
            specific_contract_id=contract.id, status=contract.status.value,
            awardable=(can_move(contract.status, SpecificContractStatus.AWARD_DECIDED) and award is None
                       and buying_side(principal, contract, Role.BUYER_ADMIN)),
            ranking=ranking, award=award,
            notices=[schemas.NoticeDelivery(kind=n.kind, recipient_email=n.recipient_email,
                                            email_status=n.email_status.value, emailed_at=n.emailed_at,
                                            failure_reason=n.failure_reason, created_at=n.created_at)
                     for n in notices],
            reasons_requests=[ReasonsService.request_schema(r) for r in requests],
            vendor_names={str(k): v for k, v in names.items()},
            contract_id=await self.session.scalar(select(Contract.id).where(
                Contract.specific_contract_id == contract.id)))

    async def _award_schema(self, contract: SpecificContract) -> schemas.Award | None:
        award = await self.session.scalar(select(Award).where(Award.specific_contract_id == contract.id).order_by(
            (Award.status == AwardStatus.CANCELLED).asc(), Award.decided_at.desc()).limit(1))
        if award is None:
            return None
        ranking = msgspec.json.decode(msgspec.json.encode(award.ranking), type=schemas.Ranking)
        name = next((r.vendor_name for r in ranking.offers if r.offer_id == award.offer_id), "")
        notices = await self.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.about_id == contract.id, Notification.kind.in_(NOTICE_KINDS)))
        return schemas.Award(id=award.id, specific_contract_id=contract.id, offer_id=award.offer_id,
                             vendor_organisation_id=award.vendor_organisation_id, vendor_name=name,
                             status=award_status(award.status, award.earliest_signature_at, await self._now(contract)),
                             reasons=award.reasons, departure_reason=award.departure_reason,
                             standstill_required=award.standstill_required, decided_at=award.decided_at,
                             notices_sent_at=award.notices_sent_at, earliest_signature_at=award.earliest_signature_at,
                             notices=int(notices or 0), sandbox=await self._sandbox(contract))

    async def _notify(self, contract: SpecificContract, award: Award, ranking: schemas.Ranking,
                      offers: dict[uuid.UUID, Offer], awardee: str) -> int:
        """D16: every other vendor that submitted an offer learns the awardee, the reasons, its own scores
        (or why its offer was rejected) and the earliest signature date; the awardee learns it won."""
        need = await self.session.get(Need, contract.need_id)
        title = need.title if need else str(contract.id)
        entries = {r.offer_id: r for r in ranking.offers}
        rejected = {r.offer_id: r for r in ranking.rejected}
        sign = format_paris(award.earliest_signature_at)
        sandbox = await self._sandbox(contract)
        sent = 0
        for offer in offers.values():
            if offer.id == award.offer_id:
                kind, subject = "award.awarded", f"Marché spécifique attribué à votre offre : {title}"
                body = (f"Votre offre sur le marché spécifique « {title} » est retenue.\n"
                        f"Motifs du choix : {award.reasons}\n"
                        f"Le marché peut être signé à partir du {sign}.")
            else:
                kind, subject = "award.rejection_notice", f"Marché spécifique : votre offre n'est pas retenue ({title})"
                lines = [f"Votre offre sur le marché spécifique « {title} » n'est pas retenue.",
                         f"Attributaire : {awardee}", f"Motifs du choix : {award.reasons}"]
                if offer.id in rejected:
                    r = rejected[offer.id]
                    lines.append(f"Votre offre a été écartée comme {GROUNDS_FR[r.grounds]} : {r.reasons}")
                else:
                    mine = entries[offer.id]
                    lines.append("Vos notes (sur 100) :")
                    lines += [f"- {c.name} (pondération {c.weight} %) : {c.mean}" for c in mine.criteria]
                    lines.append(f"Note globale : {mine.total} / 100")
                lines += [f"Le marché peut être signé à partir du {sign}.",
                          "Vous pouvez demander par écrit les motifs du rejet ; la réponse vous est due sous 15 jours."]
                body = "\n".join(lines)
            for email in await member_emails(self.session, offer.vendor_organisation_id, VENDOR_WRITERS):
                await self.notifications.notify(recipient_email=email, kind=kind, subject=subject, body=body,
                                                about=contract.id, sandbox=sandbox)
                sent += 1
        return sent
