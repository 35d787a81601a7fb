"""A record's compiled release (OCDS 1.1 merge routine, domain.md §3.1): the releases of one ocid merged in date
order. ocdsmerge (0.8, with the extended schema) is the reference implementation; when it is installed and given
the schema, it compiles; otherwise the rules below, which are those it applies to the fields these releases use:

- objects merge field by field, a later value replacing an earlier one, a `null` removing it;
- arrays of objects that all have an `id` merge item by item on that id (identifier merge);
- any other array (strings: `tag`, `roles`, `submissionMethod`, `relationship`) is replaced whole;
- the compiled release's `tag` is `["compiled"]`, its `id` `<ocid>-<date of the last release>`.

tests/opendata compare the two where ocdsmerge is installed.
"""

from __future__ import annotations

import copy
from typing import Any


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict):
            current = into.get(key)
            if not isinstance(current, dict):
                current = into[key] = {}
            _merge(current, value)
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "id" in v for v in value):
            current_list = into.get(key)
            if not isinstance(current_list, list):
                current_list = into[key] = []
            by_id = {str(item.get("id")): item for item in current_list if isinstance(item, dict)}
            for item in value:
                existing = by_id.get(str(item["id"]))
                if existing is None:
                    existing = {}
                    current_list.append(existing)
                    by_id[str(item["id"])] = existing
                _merge(existing, item)
        else:
            into[key] = copy.deepcopy(value)


def compile_releases(releases: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    ordered = sorted(releases, key=lambda r: (r["date"], r["id"]))
    if schema is not None:
        try:
            import ocdsmerge
        except ImportError:  # the built-in rules below
            pass
        else:
            return dict(ocdsmerge.Merger(schema=schema).create_compiled_release(ordered))
    compiled: dict[str, Any] = {}
    for release in ordered:
        _merge(compiled, {k: v for k, v in release.items() if k not in ("id", "tag")})
    compiled["tag"] = ["compiled"]
    compiled["id"] = f"{ordered[-1]['ocid']}-{ordered[-1]['date']}"
    return compiled
