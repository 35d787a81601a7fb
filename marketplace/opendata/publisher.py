"""The adapter to the national open-data portal (domain.md §4.1: the buyer declares the essential data of its
contracts on data.gouv.fr, directly or through an API).

`DecpPublisher` is what the DECP service calls with one contract's DECP document (`{"marches": {"marche": [..]}}`,
schema 2.0.3) and receives a receipt from (stored with the obligation). Two implementations:

- `LocalPublisher` (`MARKETPLACE_DECP_PUBLISHER=local`, the default): nothing leaves the platform; the records are
  served at GET /decp/marches, where the portal's harvester (or an operator) fetches them.
- `DataGouvPublisher` (`MARKETPLACE_DECP_PUBLISHER=datagouv`): uploads the document as a JSON file resource of the
  buyer's dataset through data.gouv.fr's API v1: `POST {portal}/datasets/{dataset}/upload/` (multipart, field
  `file`), authenticated with the `X-API-KEY` header (an API key of an account that may edit the dataset);
  the answer's `id` and `url` are the receipt. Settings: `MARKETPLACE_DECP_PORTAL_URL` (default
  https://www.data.gouv.fr/api/1), `MARKETPLACE_DECP_DATASET` (the dataset's id or slug),
  `MARKETPLACE_DECP_API_KEY`. The portal is not reachable from the test environment: tests use a recording double
  (tests/opendata) that validates what would be sent against the schema and keeps it.

A failure raises `PublicationFailed`: the record stays unpublished, the obligation's deadline runs on, and the
reminder (decp.py) tells the buying side before it passes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

import httpx

from marketplace.settings import Settings


class PublicationFailed(Exception):
    """The portal refused the document or could not be reached (never an HTTP answer of ours: the job retries)."""


class DecpPublisher(Protocol):
    name: str

    async def publish(self, file_name: str, document: dict[str, Any]) -> dict[str, Any]: ...


def _encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode()


class LocalPublisher:
    name = "local"

    async def publish(self, file_name: str, document: dict[str, Any]) -> dict[str, Any]:
        return {"publisher": self.name, "file": file_name, "sha256": hashlib.sha256(_encoded(document)).hexdigest()}


class DataGouvPublisher:
    name = "datagouv"

    def __init__(self, portal_url: str, dataset: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.portal_url = portal_url.rstrip("/")
        self.dataset = dataset
        self.api_key = api_key
        self.timeout = timeout

    async def publish(self, file_name: str, document: dict[str, Any]) -> dict[str, Any]:
        body = _encoded(document)
        url = f"{self.portal_url}/datasets/{self.dataset}/upload/"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, headers={"X-API-KEY": self.api_key},
                                             files={"file": (file_name, body, "application/json")})
        except httpx.HTTPError as exc:
            raise PublicationFailed(f"data.gouv.fr: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise PublicationFailed(f"data.gouv.fr answered {response.status_code}: {response.text[:300]}")
        answer = response.json()
        return {"publisher": self.name, "file": file_name, "sha256": hashlib.sha256(body).hexdigest(),
                "resource": answer.get("id"), "url": answer.get("url")}


def publisher_from(settings: Settings) -> DecpPublisher:
    if settings.decp_publisher == "datagouv":
        if not (settings.decp_dataset and settings.decp_api_key):
            raise RuntimeError("MARKETPLACE_DECP_PUBLISHER=datagouv needs MARKETPLACE_DECP_DATASET and "
                               "MARKETPLACE_DECP_API_KEY")
        return DataGouvPublisher(settings.decp_portal_url, settings.decp_dataset, settings.decp_api_key)
    return LocalPublisher()
