"""Routes of deposits (domain.md §11.3): the journal of failed deposit attempts (D14b) and the late admissions
(D14c). The limits a deposit can hit (D14a) are published in the contract's own views (GET
/specific-contracts/{id}, GET /discovery/needs) and quoted by each refusal."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_ADMINS, BUYING_SIDE, VENDOR_MEMBERS
from marketplace.lib.access import requires
from marketplace.lib.http import created
from marketplace.tenders import schemas
from marketplace.tenders.deposits import DepositService
from marketplace.tenders.deps import provide_deposit_service

Caller = NamedDependency[Principal]
Deposits = NamedDependency[DepositService]
BUYING_READS = ("The contract's buying organisation, from the deadline on (before it, who tries to deposit is "
                "sealed like the offers).")


class DepositController(Controller):
    """What became of refused deposits: journaled for the vendor and the buyer; a vendor admitted late (D14b–D14c)."""

    tags = ["Deposits"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "deposits": Provide(provide_deposit_service, sync_to_thread=False)}

    @get("/specific-contracts/{contract_id:uuid}/my-deposit-attempts",
         opt=requires(*VENDOR_MEMBERS, reason="Members of an invited vendor: its own refused attempts."),
         summary="Your vendor's refused deposit attempts on the contract (D14b): when, what, the error")
    async def mine(self, contract_id: FromPath[uuid.UUID], deposits: Deposits,
                   principal: Caller) -> list[schemas.DepositAttempt]:
        return await deposits.mine(principal, contract_id)

    @get("/specific-contracts/{contract_id:uuid}/deposit-attempts", opt=requires(*BUYING_SIDE, reason=BUYING_READS),
         summary="Every refused deposit attempt on the contract (D14b), never the content")
    async def every(self, contract_id: FromPath[uuid.UUID], deposits: Deposits,
                    principal: Caller) -> list[schemas.DepositAttempt]:
        return await deposits.every(principal, contract_id)

    @post("/specific-contracts/{contract_id:uuid}/late-admissions", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_ADMINS, reason="An administrator of the contract's buying side (the holder in "
                                              "intermediation), after the deadline and before the opening."),
          summary="Admit a vendor whose journaled attempts the platform blocked to deposit until a set time (D14c)")
    async def admit(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.LateAdmissionCreate],
                    deposits: Deposits, principal: Caller) -> Response[schemas.LateAdmission]:
        admission = await deposits.admit(principal, contract_id, data)
        return created(admission, f"/specific-contracts/{contract_id}/late-admissions")

    @get("/specific-contracts/{contract_id:uuid}/late-admissions",
         opt=requires(*BUYING_SIDE, reason="The contract's buying organisation."),
         summary="The late admissions of the contract, with their reasons and the journal rows they rely on")
    async def listed(self, contract_id: FromPath[uuid.UUID], deposits: Deposits,
                     principal: Caller) -> list[schemas.LateAdmission]:
        return await deposits.listed(principal, contract_id)
