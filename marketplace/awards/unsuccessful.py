"""A specific contract without a valid offer (machine (c): OPEN|CLOSED_FOR_OFFERS|EVALUATION --no_valid_offer-->
UNSUCCESSFUL; OCDS tender.status `unsuccessful`).

Two ways to get there, both automatic, in the transaction of the act that makes it so:

- the opening finds no submitted offer (tenders/opening/): nothing to evaluate, ever;
- the last admissible opened offer is rejected, on any ground (the plain rejection, or the D15 decision):
  nothing is left to award.

Automatic rather than a buyer's act: the state is a fact, not a choice (the buyer who wants to abandon a
procedure that still has a valid offer declares it sans suite, with reasons, awards/cancellation.py), and the
vendors and the holder are owed the news without delay (D16); a separate act would leave the procedure
"in evaluation" with nothing to evaluate until someone remembers it. An offer under a pending abnormally-low
procedure is still admissible: the contract stays in evaluation until that decision.

UNSUCCESSFUL is final: no opening, evaluation, score, rejection, award, dialogue or cancellation afterwards
(409, tenders/states.py CONTRACT_TRANSITIONS). Every invitee is told, each vendor whose offer was rejected gets the
grounds and reasons of its rejection, the holder of the need is told too; the act is audited.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.members import member_emails
from marketplace.accounts.roles import HOLDER_WRITERS, VENDOR_WRITERS
from marketplace.awards.models import OfferRejection
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.notifications.notify import NotificationService
from marketplace.tenders.contracts import notify_invitees
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, move
from marketplace.vendors.sandbox import dps_of

KIND = "tender.unsuccessful"
_GROUNDS_FR = {"irregular": "irrégulière", "unacceptable": "inacceptable", "inappropriate": "inappropriée",
               "abnormally_low": "anormalement basse"}


async def any_admissible(session: AsyncSession, contract: SpecificContract) -> bool:
    """Whether an opened offer of the contract is still in the running (not rejected)."""
    return await session.scalar(select(Offer.id).where(
        Offer.specific_contract_id == contract.id, Offer.status == OfferStatus.OPENED,
        ~select(OfferRejection.id).where(OfferRejection.offer_id == Offer.id).exists()).limit(1)) is not None




async def end_unsuccessful(session: AsyncSession, clock: Clock, contract: SpecificContract, *, actor: str,
                           cause: str) -> None:
    """Machine (c) --no_valid_offer--> UNSUCCESSFUL, with the notices. The caller holds the contract's row
    lock and checked that no valid offer is left; `cause` says why, in French, for the notices."""
    previous = move(contract, SpecificContractStatus.UNSUCCESSFUL)
    await session.flush()
    sandbox = (await dps_of(session, contract.dps_id)).is_sandbox
    need = await session.get(Need, contract.need_id)
    title = need.title if need else str(contract.id)
    subject = f"Marché spécifique infructueux — {title}"
    text = (f"Le marché spécifique {contract.id} ({title}) est infructueux : {cause}. La procédure est close sans "
            "attribution ; aucun marché ne sera conclu sur cette consultation.")
    told = await notify_invitees(session, clock, contract.id, kind=KIND, subject=subject, body=text, sandbox=sandbox)
    notifications = NotificationService(session, clock)
    rejected = (await session.execute(select(Offer.vendor_organisation_id, OfferRejection.grounds,
                                             OfferRejection.reasons)
                                      .join(OfferRejection, OfferRejection.offer_id == Offer.id)
                                      .where(Offer.specific_contract_id == contract.id)
                                      .order_by(Offer.received_at, Offer.id))).all()
    for vendor, grounds, reasons in rejected:
        for email in await member_emails(session, vendor, VENDOR_WRITERS):
            await notifications.notify(
                recipient_email=email, kind="award.rejection_notice", about=contract.id, sandbox=sandbox,
                subject=f"Marché spécifique : votre offre n'est pas retenue ({title})",
                body=(f"Votre offre sur le marché spécifique « {title} » a été écartée comme "
                      f"{_GROUNDS_FR.get(str(grounds), str(grounds))} : {reasons}\n{text}\n"
                      "Vous pouvez demander par écrit les motifs du rejet ; la réponse vous est due sous 15 jours."))
            told += 1
    if need is not None:
        for email in await member_emails(session, need.holder_organisation_id, HOLDER_WRITERS):
            await notifications.notify(recipient_email=email, kind=KIND, subject=subject, body=text,
                                       about=contract.id, sandbox=sandbox)
            told += 1
    await audit.record(session, clock, "specific_contract.unsuccessful", actor=actor,
                       organisation_id=contract.buyer_organisation_id, target_type="specific_contract",
                       target_id=contract.id, details={"specific_contract": str(contract.id),
                                                       "from_status": previous.value, "cause": cause,
                                                       "notified": told})
