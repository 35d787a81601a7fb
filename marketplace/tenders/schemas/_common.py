"""The constrained strings and numbers the tenders domain's bodies share.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Text300 = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Finess = Annotated[str, msgspec.Meta(min_length=9, max_length=20)]
Cpv = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]
Cents = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
