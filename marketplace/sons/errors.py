"""The SONS domain's refusals (domain.md §5 with §12), each a problem naming its field and rule."""

from __future__ import annotations

from typing import ClassVar

from marketplace.errors import Conflict, RuleViolation


class CeilingExceeded(RuleViolation):
    """SN1, §5.3: the order's HT amount stays within the regulatory ceiling of its tranche."""

    slug: ClassVar[str] = "sons-ceiling-exceeded"


class AmountsInconsistent(RuleViolation):
    """§5.3: the order shows its HT amount, its VAT rate and its TTC amount, to the cent."""

    slug: ClassVar[str] = "sons-amounts-inconsistent"


class DeadlinePassed(Conflict):
    """SN1: the dispositif's calendar (order, advance, balance deadlines) is kept to the second."""

    slug: ClassVar[str] = "sons-deadline-passed"


class BeneficiaryServed(Conflict):
    """SN4: one Ségur service per beneficiary, dispositif and wave."""

    slug: ClassVar[str] = "sons-beneficiary-served"


class PreReferencingRefused(RuleViolation):
    """SN3: an order before referencing carries the AF's mention and falls within its window before the proof
    file."""

    slug: ClassVar[str] = "sons-pre-referencing"


class SiteNotOfOg(RuleViolation):
    """§2.3, §5.3: each site of an order is one of the OG's (its FINESS ET under the OG's FINESS EJ, or its SIRET
    under the OG's SIREN)."""

    slug: ClassVar[str] = "sons-site-not-of-og"


class OrderStage(Conflict):
    """§12: the order is not in a state that allows this."""

    slug: ClassVar[str] = "sons-order-stage"


class AspTransitionRefused(Conflict):
    """SN5: the ASP request's status does not move this way (DECIDED_PAID and REJECTED are final)."""

    slug: ClassVar[str] = "sons-asp-transition"


class AmendmentPending(Conflict):
    """SN5: a balance is refused while an amendment of the advance is not DECIDED_PAID."""

    slug: ClassVar[str] = "sons-amendment-pending"


class MssMismatch(RuleViolation):
    """SN6: the balance's "Déploiement MSS" case is the VA's."""

    slug: ClassVar[str] = "sons-mss-mismatch"


class InvoiceRefused(RuleViolation):
    """SN7: one Factur-X invoice for 100 % of the order, whose buyer is the VA's signatory."""

    slug: ClassVar[str] = "sons-invoice-refused"


class SolutionUnavailable(RuleViolation):
    """§5.2: an order names an active solution of its vendor, with one of its referenced installation scenarios."""

    slug: ClassVar[str] = "sons-solution-unavailable"
