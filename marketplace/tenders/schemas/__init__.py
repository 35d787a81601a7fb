"""The tenders domain's request and response bodies (msgspec Structs; their class names are the OpenAPI
components' names).

The package's private modules, one per noun: `_needs.py`, `_contracts.py` (specific contracts),
`_questions.py` (Q&A and amendments), `_search.py`, `_offers.py` (sealed offers and their opening), `_deposits.py`
(deposit limits, the journal of failed deposits, late admissions), with `_common.py`'s constrained types.
"""

from __future__ import annotations

from marketplace.tenders.schemas._common import Cents, Cpv, Finess, LongText, Percent, Reference, Text300, Year
from marketplace.tenders.schemas._contracts import (
    DEFAULT_ATTACHMENT_TYPES,
    ChosenCriterion,
    ContractInvitation,
    CriterionName,
    CriterionWeight,
    MyInvitation,
    NeedPublish,
    SpecificContract,
    Weight,
)
from marketplace.tenders.schemas._deposits import (
    ArchiveLimits,
    DepositAttempt,
    DepositLimits,
    LateAdmission,
    LateAdmissionCreate,
)
from marketplace.tenders.schemas._needs import Need, NeedCreate, NeedFacility, NeedFields, NeedSoftware, NeedUpdate
from marketplace.tenders.schemas._offers import (
    FILENAME_MAX_LENGTH,
    AttachmentReceipt,
    ClarificationSummary,
    CriterionAnswer,
    Offer,
    OfferParts,
    OfferSummary,
    OpenerKey,
    OpenerKeyCreate,
    OpenerUnlock,
    OpeningRecord,
    OpeningRequest,
    Passphrase,
    PresignedUpload,
    PriceLine,
    ReceivedOffers,
    SignedReceipt,
    UploadCompletion,
    UploadRequest,
)
from marketplace.tenders.schemas._questions import (
    AmendmentReason,
    AnswerText,
    ContractAmendment,
    ContractDocument,
    ContractQuestion,
    DeadlineExtension,
    QuestionAnswer,
    QuestionAsk,
    QuestionsDeadline,
    QuestionText,
)
from marketplace.tenders.schemas._search import NeedSearchParams, PublicNeed, PublicNeedPage

__all__ = ["DEFAULT_ATTACHMENT_TYPES", "FILENAME_MAX_LENGTH", "AmendmentReason", "AnswerText", "ArchiveLimits",
           "AttachmentReceipt", "Cents", "ChosenCriterion", "ClarificationSummary", "ContractAmendment",
           "ContractDocument", "ContractInvitation", "ContractQuestion", "Cpv", "CriterionAnswer", "CriterionName",
           "CriterionWeight", "DeadlineExtension", "DepositAttempt", "DepositLimits", "Finess", "LateAdmission",
           "LateAdmissionCreate", "LongText", "MyInvitation", "Need", "NeedCreate", "NeedFacility", "NeedFields",
           "NeedPublish", "NeedSearchParams", "NeedSoftware", "NeedUpdate", "Offer", "OfferParts", "OfferSummary",
           "OpenerKey", "OpenerKeyCreate", "OpenerUnlock", "OpeningRecord", "OpeningRequest", "Passphrase", "Percent",
           "PresignedUpload", "PriceLine", "PublicNeed", "PublicNeedPage", "QuestionAnswer", "QuestionAsk",
           "QuestionText", "QuestionsDeadline", "ReceivedOffers", "Reference", "SignedReceipt", "SpecificContract",
           "Text300", "UploadCompletion", "UploadRequest", "Weight", "Year"]
