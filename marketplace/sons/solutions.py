"""The vendors' referenced solutions (§5.2) and their enrolment at the ASP (§5.3 step 2, §2.6).

A solution is a vendor's software in one version on one dispositif, with the ANS referencing number and date (or,
while being referenced, the date its complete proof file was deemed submitted: SN3) and the installation scenarios of
its referenced profile; it is active until withdrawn (a withdrawn solution takes no new order, the orders made keep
it). The ASP enrolment carries the IBAN (ISO 13616 checked by python-stdnum; for a French IBAN the RIB key, §2.6),
the VAT status, the ASP's enrolment reference and the ANS referencing number it was made with (SN3: one of the
vendor's referenced solutions). A new enrolment supersedes the previous one, which is kept.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, VENDOR_MEMBERS, VENDOR_WRITERS
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.sons import schemas
from marketplace.sons.access import vendor_acting
from marketplace.sons.base import SonsBase
from marketplace.sons.models import SonsDispositif, SonsEnrolment, SonsSolution
from marketplace.sons.states import SolutionStatus
from marketplace.vendors.models import AdmissionRequest, Dps

_NOT_FOUND = "No SONS solution has this id."
# §2.6: the letters of a French account number as RIB digits.
_RIB_LETTERS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "12345678912345678923456789")


def rib_key(bank: str, branch: str, account: str) -> str:
    """§2.6: the RIB key, 97 − ((89 × bank + 15 × branch + 3 × account) mod 97), letters mapped A,J→1 … I,R,Z→9."""
    digits = account.upper().translate(_RIB_LETTERS)
    return f"{97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(digits)) % 97):02d}"


def validated_iban(value: str, given_key: str | None) -> tuple[str, str | None]:
    """The compact IBAN and, for a French one, its RIB key (checked, and equal to `given_key` when given)."""
    try:
        compact = stdnum_iban.validate(value)
    except ValidationError as exc:
        raise RuleViolation(f"iban: {exc} (ISO 13616, domain.md §2.6)", field="iban",
                            rule="domain.md §2.6") from None
    if not compact.startswith("FR"):
        if given_key is not None:
            raise RuleViolation("ribKey: only a French IBAN carries a RIB key", field="ribKey", rule="domain.md §2.6")
        return compact, None
    bank, branch, account, key = compact[4:9], compact[9:14], compact[14:25], compact[25:27]
    if rib_key(bank, branch, account) != key:
        raise RuleViolation(f"iban: the RIB key {key} of this IBAN is not its bank details' "
                            f"({rib_key(bank, branch, account)}) (domain.md §2.6)", field="iban",
                            rule="domain.md §2.6")
    if given_key is not None and given_key != key:
        raise RuleViolation(f"ribKey: {given_key} is not this IBAN's RIB key ({key})", field="ribKey",
                            rule="domain.md §2.6")
    return compact, key


def solution_schema(row: SonsSolution, vendor_name: str, dispositif: SonsDispositif) -> schemas.Solution:
    return schemas.Solution(
        id=row.id, vendor_organisation_id=row.vendor_organisation_id, vendor_name=vendor_name,
        dispositif_id=row.dispositif_id, dispositif_code=dispositif.code, wave=dispositif.wave, name=row.name,
        version=row.version, referencing_number=row.referencing_number, referenced_on=row.referenced_on,
        proof_file_submitted_on=row.proof_file_submitted_on, installation_scenarios=list(row.installation_scenarios),
        saas=row.saas, status=row.status)


class SolutionService(SonsBase):
    async def create(self, principal: Principal, data: schemas.SolutionCreate) -> schemas.Solution:
        vendor_id = vendor_acting(principal, data.vendor_organisation_id)
        dispositif = await self.session.get(SonsDispositif, data.dispositif_id)
        if dispositif is None:
            raise RuleViolation("dispositifId: no SONS dispositif has this id", field="dispositifId")
        if (data.referencing_number is None) != (data.referenced_on is None):
            raise RuleViolation("referencedOn: §5.2: a referenced solution has its ANS referencing number and its "
                                "date, both", field="referencedOn", rule="SN3")
        if data.referencing_number is None and data.proof_file_submitted_on is None:
            raise RuleViolation("proofFileSubmittedOn: SN3: a solution not yet referenced gives the date its complete "
                                "proof file was deemed submitted", field="proofFileSubmittedOn", rule="SN3")
        scenarios = list(dict.fromkeys(s.strip() for s in data.installation_scenarios))
        if await self.session.scalar(select(SonsSolution.id).where(
                SonsSolution.vendor_organisation_id == vendor_id, SonsSolution.dispositif_id == dispositif.id,
                SonsSolution.name == data.name.strip(), SonsSolution.version == data.version.strip())):
            raise Conflict("version: this solution's version is listed on this dispositif already", field="version")
        if data.referencing_number is not None and await self.session.scalar(select(SonsSolution.id).where(
                SonsSolution.referencing_number == data.referencing_number.strip())):
            raise Conflict("referencingNumber: §5.2: an ANS referencing number certifies one solution version",
                           field="referencingNumber")
        row = SonsSolution(vendor_organisation_id=vendor_id, dispositif_id=dispositif.id, name=data.name.strip(),
                           version=data.version.strip(),
                           referencing_number=data.referencing_number.strip() if data.referencing_number else None,
                           referenced_on=data.referenced_on, proof_file_submitted_on=data.proof_file_submitted_on,
                           installation_scenarios=scenarios, saas=data.saas, status=SolutionStatus.ACTIVE,
                           created_by=principal.label)
        self.session.add(row)
        await self.session.flush()
        await self._audit(principal, "sons_solution.listed", organisation_id=vendor_id, target_type="sons_solution",
                          target_id=row.id, dispositif=dispositif.code, wave=dispositif.wave,
                          referencing_number=row.referencing_number)
        return await self.get(row.id)

    async def withdraw(self, principal: Principal, solution_id: uuid.UUID) -> schemas.Solution:
        row = await self.session.scalar(select(SonsSolution).where(SonsSolution.id == solution_id).with_for_update())
        if row is None:
            raise NotFound(_NOT_FOUND)
        if not (principal.has_role_in(row.vendor_organisation_id, *VENDOR_WRITERS) or principal.is_platform_admin):
            if principal.has_role_in(row.vendor_organisation_id, *VENDOR_MEMBERS):
                raise Forbidden("Only the vendor's admin or bid manager withdraws its solution.")
            raise Forbidden("Only the vendor, or the operator, withdraws a solution.")
        if row.status is SolutionStatus.ACTIVE:
            row.status, row.withdrawn_at = SolutionStatus.WITHDRAWN, self.clock.now()
            await self.session.flush()
            await self._audit(principal, "sons_solution.withdrawn", organisation_id=row.vendor_organisation_id,
                              target_type="sons_solution", target_id=row.id)
        return await self.get(row.id)

    async def get(self, solution_id: uuid.UUID) -> schemas.Solution:
        found = (await self.session.execute(
            select(SonsSolution, Organisation.name, SonsDispositif)
            .join(Organisation, Organisation.id == SonsSolution.vendor_organisation_id)
            .join(SonsDispositif, SonsDispositif.id == SonsSolution.dispositif_id)
            .where(SonsSolution.id == solution_id))).first()
        if found is None:
            raise NotFound(_NOT_FOUND)
        return solution_schema(*found)

    async def list_all(self, *, dispositif_id: uuid.UUID | None = None, vendor_id: uuid.UUID | None = None,
                   active: bool = True) -> list[schemas.Solution]:
        query = (select(SonsSolution, Organisation.name, SonsDispositif)
                 .join(Organisation, Organisation.id == SonsSolution.vendor_organisation_id)
                 .join(SonsDispositif, SonsDispositif.id == SonsSolution.dispositif_id))
        if dispositif_id is not None:
            query = query.where(SonsSolution.dispositif_id == dispositif_id)
        if vendor_id is not None:
            query = query.where(SonsSolution.vendor_organisation_id == vendor_id)
        if active:
            query = query.where(SonsSolution.status == SolutionStatus.ACTIVE)
        rows = (await self.session.execute(query.order_by(Organisation.name, SonsSolution.name,
                                                          SonsSolution.version, SonsSolution.id))).all()
        return [solution_schema(*row) for row in rows]

    async def active_counts(self, vendor_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many active referenced solutions each vendor lists (what `list_all` lists, counted in one query)."""
        if not vendor_ids:
            return {}
        rows = (await self.session.execute(
            select(SonsSolution.vendor_organisation_id, func.count())
            .where(SonsSolution.vendor_organisation_id.in_(vendor_ids), SonsSolution.status == SolutionStatus.ACTIVE)
            .group_by(SonsSolution.vendor_organisation_id))).all()
        return {vendor: int(count) for vendor, count in rows}


def enrolment_schema(row: SonsEnrolment) -> schemas.Enrolment:
    return schemas.Enrolment(id=row.id, vendor_organisation_id=row.vendor_organisation_id, iban=row.iban,
                             rib_key=row.rib_key, vat_status=row.vat_status,
                             enrolment_reference=row.enrolment_reference, referencing_number=row.referencing_number,
                             enrolled_at=row.enrolled_at)


class EnrolmentService(SonsBase):
    async def enrol(self, principal: Principal, data: schemas.EnrolmentCreate) -> schemas.Enrolment:
        vendor_id = vendor_acting(principal, data.vendor_organisation_id)
        compact, key = validated_iban(data.iban, data.rib_key)
        # SN3: the ASP enrols an editor on the ANS referencing number of one of its referenced solutions.
        number = data.referencing_number.strip()
        if not await self.session.scalar(select(SonsSolution.id).where(
                SonsSolution.vendor_organisation_id == vendor_id, SonsSolution.referencing_number == number,
                SonsSolution.status == SolutionStatus.ACTIVE)):
            raise RuleViolation(f"referencingNumber: SN3: the ASP enrolment needs the ANS referencing number of one of "
                                f"your active referenced solutions; {number} is not one", field="referencingNumber",
                                rule="SN3")
        now = self.clock.now()
        previous = await self.session.scalar(select(SonsEnrolment).where(
            SonsEnrolment.vendor_organisation_id == vendor_id, SonsEnrolment.superseded_at.is_(None))
            .with_for_update())
        if previous is not None:
            previous.superseded_at = now
            await self.session.flush()
        row = SonsEnrolment(vendor_organisation_id=vendor_id, iban=compact, rib_key=key, vat_status=data.vat_status,
                            enrolment_reference=data.enrolment_reference.strip(), referencing_number=number,
                            enrolled_by=principal.label, enrolled_at=now)
        self.session.add(row)
        await self.session.flush()
        # The IBAN itself stays out of the audit log (its last four characters say which one it was).
        await self._audit(principal, "sons_enrolment.recorded", organisation_id=vendor_id,
                          target_type="sons_enrolment", target_id=row.id, iban_end=compact[-4:],
                          vat_status=row.vat_status.value, enrolment_reference=row.enrolment_reference,
                          superseded=str(previous.id) if previous is not None else None)
        return enrolment_schema(row)

    async def current(self, principal: Principal, vendor_id: uuid.UUID | None) -> schemas.Enrolment:
        readable = principal.organisations_with(*VENDOR_MEMBERS)
        chosen = vendor_id or (readable[0] if len(readable) == 1 else None)
        if chosen is None or not (chosen in readable or principal.is_platform_admin):
            raise NotFound("No ASP enrolment of yours has been recorded.")
        row = await self.session.scalar(select(SonsEnrolment).where(
            SonsEnrolment.vendor_organisation_id == chosen, SonsEnrolment.superseded_at.is_(None)))
        if row is None:
            raise NotFound("No ASP enrolment of this vendor has been recorded.")
        return enrolment_schema(row)

    async def for_dps_buyer(self, principal: Principal, vendor_id: uuid.UUID) -> schemas.EnrolmentSummary | None:
        """The vendor's current enrolment for the buyers of a DPS it applied to (DPS_WRITERS of its buying
        organisation), who check that the vendor they admit can be paid by the ASP: whether it is enrolled, with
        what reference, VAT status and ANS number, and whether its IBAN checks (§2.6). Never the IBAN itself: its
        last four characters say which one it is. Anyone else: 404, as for the vendor itself."""
        applied = await self.session.scalar(
            select(AdmissionRequest.id).join(Dps, Dps.id == AdmissionRequest.dps_id)
            .where(AdmissionRequest.vendor_organisation_id == vendor_id,
                   Dps.buyer_organisation_id.in_(principal.organisations_with(*DPS_WRITERS))).limit(1))
        if applied is None:
            raise NotFound("No vendor applied to a DPS of yours with this id.")
        row = await self.session.scalar(select(SonsEnrolment).where(
            SonsEnrolment.vendor_organisation_id == vendor_id, SonsEnrolment.superseded_at.is_(None)))
        if row is None:
            return None
        try:
            validated_iban(row.iban, row.rib_key)
            valid = True
        except RuleViolation:
            valid = False
        return schemas.EnrolmentSummary(vendor_organisation_id=vendor_id, iban_last4=row.iban[-4:], iban_valid=valid,
                                        vat_status=row.vat_status, enrolment_reference=row.enrolment_reference,
                                        referencing_number=row.referencing_number, enrolled_at=row.enrolled_at)
