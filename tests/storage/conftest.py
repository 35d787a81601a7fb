"""A private bucket per test module on the session's real S3 server."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from minio import Minio

from marketplace.settings import Settings
from storage import ObjectStore, StoreConfig


def _sdk_client(config: StoreConfig) -> Minio:
    url = urlsplit(config.endpoint)
    return Minio(
        endpoint=url.netloc, access_key=config.access_key, secret_key=config.secret_key,
        secure=url.scheme == "https", region=config.region,
    )


@pytest.fixture(scope="module")
def store_config(stack_settings: Settings) -> Iterator[StoreConfig]:
    config = StoreConfig(
        endpoint=stack_settings.s3_endpoint,
        access_key=stack_settings.s3_access_key,
        secret_key=stack_settings.s3_secret_key,
        bucket=f"storage-test-{uuid.uuid4().hex[:12]}",
        region=stack_settings.s3_region,
    )
    client = _sdk_client(config)
    client.make_bucket(bucket_name=config.bucket)
    yield config
    for obj in client.list_objects(bucket_name=config.bucket, recursive=True):
        client.remove_object(bucket_name=config.bucket, object_name=str(obj.object_name))
    client.remove_bucket(bucket_name=config.bucket)


@pytest.fixture
def sdk(store_config: StoreConfig) -> Minio:
    """The bare SDK, to look behind the store's back."""
    return _sdk_client(store_config)


@pytest.fixture
def store(store_config: StoreConfig) -> ObjectStore:
    return ObjectStore(store_config)


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
