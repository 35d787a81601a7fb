"""Questions and answers on a specific contract, and its amendments (a deadline extended, a document added).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.models import AmendmentKind

# -- questions and answers ----------------------------------------------------------------------------

QuestionText = Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]
AnswerText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class QuestionsDeadline(CamelStruct):
    # Without a zone, a Paris wall-clock time; before the tender deadline.
    closes_at: datetime


class QuestionAsk(CamelStruct):
    question: QuestionText


class QuestionAnswer(CamelStruct):
    answer: AnswerText


class ContractQuestion(CamelStruct, omit_defaults=True):
    """A question and its answer. The asker's fields are only present in the buying organisation's view;
    an invited vendor sees its own questions (`mine`) and the published ones of everybody, anonymised."""

    id: uuid.UUID
    question: str
    asked_at: datetime
    published: bool
    answer: str | None = None
    answered_at: datetime | None = None
    # The buyer's view only.
    vendor_organisation_id: uuid.UUID | None = None
    asked_by: str | None = None
    answered_by: str | None = None
    # A vendor's view only: asked by one of the caller's vendor organisations.
    mine: bool | None = None


# -- amendments ---------------------------------------------------------------------------------------

AmendmentReason = Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]


class DeadlineExtension(CamelStruct):
    # Without a zone, a Paris wall-clock time; later than the current deadline.
    tender_deadline: datetime
    reason: AmendmentReason


class ContractDocument(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    # The version this one replaces, and whether a later version replaced this one.
    replaces_id: uuid.UUID | None
    current: bool
    published_at: datetime
    download_path: str


class ContractAmendment(CamelStruct):
    id: uuid.UUID
    kind: AmendmentKind
    amended_at: datetime
    amended_at_paris: str
    reason: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any]
