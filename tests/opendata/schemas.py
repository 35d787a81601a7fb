"""Offline validation of the open-data exports against the official schemas in ../shared/schemas (README there):
OCDS 1.1.5 extended with the bid and lots extensions (v1.1.5) and the techniques extension (master), each applied
as a JSON Merge Patch without its nulls; DECP 2.0.3 (draft-07). jsonschema's format checker is on (date-time needs
rfc3339-validator, uri rfc3986-validator: both asserted present, so a check can't be skipped silently)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas"
OCDS = SCHEMAS / "ocds-1.1.5"
BASE = "https://standard.open-contracting.org/schema/1__1__5/"
EXTENSIONS = ("ocds_bid_extension", "ocds_lots_extension", "ocds_techniques_extension")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386, the nulls of the patch removed first (as ocdsextensionregistry does)."""
    for key, value in patch.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _patch(target[key], value)
        else:
            target[key] = copy.deepcopy(_drop_nulls(value))
    return target


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


@functools.cache
def extended_release_schema() -> dict[str, Any]:
    schema = _load(OCDS / "release-schema.json")
    for extension in EXTENSIONS:
        _patch(schema, _load(SCHEMAS / "ocds-extensions" / extension / "release-schema.json"))
    return schema


@functools.cache
def _registry() -> Registry:
    resources = {BASE + "release-schema.json": extended_release_schema(),
                 BASE + "versioned-release-validation-schema.json": _load(
                     OCDS / "versioned-release-validation-schema.json")}
    return Registry().with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT4)) for uri, contents in resources.items())


def _checker() -> jsonschema.FormatChecker:
    import rfc3339_validator  # noqa: F401 - date-time is checked only with it
    import rfc3986_validator  # noqa: F401 - uri is checked only with it

    return jsonschema.Draft4Validator.FORMAT_CHECKER


def errors(document: dict[str, Any], schema: dict[str, Any], cls: type[Any], checker: Any) -> list[str]:
    validator = cls(schema, registry=_registry(), format_checker=checker)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def release_package_errors(package: dict[str, Any]) -> list[str]:
    return errors(package, _load(OCDS / "release-package-schema.json"), jsonschema.Draft4Validator, _checker())


def record_package_errors(package: dict[str, Any]) -> list[str]:
    return errors(package, _load(OCDS / "record-package-schema.json"), jsonschema.Draft4Validator, _checker())


def release_errors(release: dict[str, Any]) -> list[str]:
    return errors(release, extended_release_schema(), jsonschema.Draft4Validator, _checker())


def decp_errors(document: dict[str, Any]) -> list[str]:
    schema = _load(SCHEMAS / "decp-2.0.3" / "schema_decp_v2.0.3.json")
    return errors(document, schema, jsonschema.Draft7Validator, jsonschema.Draft7Validator.FORMAT_CHECKER)
