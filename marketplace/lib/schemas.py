from __future__ import annotations

import msgspec


class CamelStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of every request and response body: camelCase on the wire, unknown fields refused."""
