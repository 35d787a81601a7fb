"""Every model of every domain, imported once: the single import point for Alembic and the tests."""

from __future__ import annotations

from advanced_alchemy.base import orm_registry

from marketplace.accounts.models import (
    ApiKey,
    Facility,
    GrappeMember,
    Invitation,
    LoginThrottle,
    Membership,
    Organisation,
    RefreshToken,
    User,
)
from marketplace.awards.models import (
    AbnormallyLowProcedure,
    Award,
    ClarificationAttachment,
    ClarificationMessage,
    ClarificationThread,
    ConflictDeclaration,
    Contract,
    ContractModification,
    ContractSignature,
    ContractTransition,
    EvaluationScore,
    OfferRejection,
    ReasonsRequest,
    SansSuiteDeclaration,
)
from marketplace.funding.models import (
    FundingCall,
    FundingCallVersion,
    FundingDecision,
    GrantTranche,
    TrancheRequest,
)
from marketplace.lib.audit import AuditAnchor, AuditEvent
from marketplace.lib.jobs import JobIntent
from marketplace.lib.timestamps import EvidenceTimestamp
from marketplace.notifications.models import Notification
from marketplace.opendata.models import (
    DecpObligation,
    DecpRecord,
    FeedEvent,
    OcdsRelease,
    Webhook,
    WebhookDelivery,
)
from marketplace.reference.models import CpvCode, ReferenceDataset
from marketplace.sons.models import (
    SonsAspEvent,
    SonsAspRequest,
    SonsCalendar,
    SonsCeiling,
    SonsCeilingTable,
    SonsDispositif,
    SonsDocument,
    SonsEnrolment,
    SonsOrder,
    SonsOrderSite,
    SonsSolution,
)
from marketplace.support.models import SupportRequest
from marketplace.tenders.models import ContractInvitation, ContractQuestion, Need, SpecificContract
from marketplace.vendors.models import AdmissionDocument, AdmissionRequest, Dps, DpsCategory

metadata = orm_registry.metadata

__all__ = [
    "AbnormallyLowProcedure",
    "AdmissionDocument",
    "AdmissionRequest",
    "ApiKey",
    "AuditAnchor",
    "AuditEvent",
    "Award",
    "ClarificationAttachment",
    "ClarificationMessage",
    "ClarificationThread",
    "ConflictDeclaration",
    "Contract",
    "ContractInvitation",
    "ContractModification",
    "ContractQuestion",
    "ContractSignature",
    "ContractTransition",
    "CpvCode",
    "DecpObligation",
    "DecpRecord",
    "Dps",
    "DpsCategory",
    "EvaluationScore",
    "EvidenceTimestamp",
    "Facility",
    "FeedEvent",
    "FundingCall",
    "FundingCallVersion",
    "FundingDecision",
    "GrantTranche",
    "GrappeMember",
    "Invitation",
    "JobIntent",
    "LoginThrottle",
    "Membership",
    "Need",
    "Notification",
    "OcdsRelease",
    "OfferRejection",
    "Organisation",
    "ReasonsRequest",
    "ReferenceDataset",
    "RefreshToken",
    "SansSuiteDeclaration",
    "SonsAspEvent",
    "SonsAspRequest",
    "SonsCalendar",
    "SonsCeiling",
    "SonsCeilingTable",
    "SonsDispositif",
    "SonsDocument",
    "SonsEnrolment",
    "SonsOrder",
    "SonsOrderSite",
    "SonsSolution",
    "SpecificContract",
    "SupportRequest",
    "TrancheRequest",
    "User",
    "Webhook",
    "WebhookDelivery",
    "metadata",
]
