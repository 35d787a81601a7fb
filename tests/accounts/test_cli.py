"""The accounts commands: first platform admin, demo data."""

from __future__ import annotations

import os
import subprocess
import sys

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from marketplace.settings import Settings


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "marketplace", *args],
                          env={**os.environ, **settings.to_env(), **env},
                          capture_output=True, text=True, timeout=120, check=False)


async def test_seed_is_idempotent_and_its_accounts_log_in(settings: Settings,
                                                          client: AsyncTestClient[Litestar]) -> None:
    first = _cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "Demo data loaded." in first.stdout and DEMO_PASSWORD in first.stdout
    second = _cli(settings, "seed")
    assert second.returncode == 0 and "already present" in second.stdout
    for email in DEMO_PEOPLE:
        login = await client.post("/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert login.status_code == 200, (email, login.text)
    admin = await client.post("/auth/login", json={"email": "admin@plateforme-sad.example",
                                                   "password": DEMO_PASSWORD})
    organisations = await client.get("/organisations",
                                     headers={"Authorization": f"Bearer {admin.json()['accessToken']}"})
    kinds = {o["kind"] for o in organisations.json()}
    assert kinds == {"platform", "buyer", "holder", "vendor"}


async def test_create_admin(settings: Settings, client: AsyncTestClient[Litestar]) -> None:
    bad = _cli(settings, "create-admin", "--email", "root@example.fr", "--name", "Root",
               "--operator-siret", "73282932000075", MARKETPLACE_ADMIN_PASSWORD="a-long-password-1")
    assert bad.returncode != 0 and "siret" in bad.stderr.lower()
    ok = _cli(settings, "create-admin", "--email", "Root@example.fr", "--name", "Root",
              "--operator-siret", "73282932000074", MARKETPLACE_ADMIN_PASSWORD="a-long-password-1")
    assert ok.returncode == 0, ok.stderr
    login = await client.post("/auth/login", json={"email": "root@example.fr", "password": "a-long-password-1"})
    assert login.status_code == 200
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {login.json()['accessToken']}"})
    assert me.json()["memberships"][0]["roles"] == ["platform:admin"]
