"""Two API processes and two workers, as a deployment runs them: nothing that matters lives in one process.

Two granian servers (`marketplace.app:create_app`, started as `marketplace serve` / bench/http.py start it) and
two `marketplace worker` processes share the test session's PostgreSQL, Redis, S3 and SMTP sink. Requests
alternate between the servers over real HTTP, and every answer must be the one a single process would give:

- the login doors' per-address rate limit is one count across both (lib/rate_limit.py), not one per process,
  and stays exact when both are hit at the same instant;
- an API login (bearer token) and a back-office login (cookie session in Redis, CSRF token signed with the
  shared secret) made on one server hold on the other, and a logout on one ends them on the other at once;
- an offer submitted with an Idempotency-Key on one server and replayed on the other gets the same bytes and
  makes one offer (G7);
- jobs recorded through either server (outbox rows, relayed by each server's relay) run once across both
  workers: each notification is mailed exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from marketplace.devstack.smtp import MailSink
from marketplace.lib.rate_limit import LOGIN_RATE_LIMIT
from marketplace.settings import Settings
from marketplace.web.security import SESSION_COOKIE
from tests.apps import shared_app
from tests.tenders.test_deadline_race import SetUpThenRealTime
from tests.tenders.test_offers import prepared_offer
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps
from tests.web.pages import csrf_token
from tests.world import PASSWORD, World, email_of

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 75.0  # seconds for four Python processes to import and start on a busy 2-core machine
STOP_GRACE = 10.0
LIMIT = LOGIN_RATE_LIMIT[1]
# `slow`: it starts four processes of its own; under `--dist loadfile` (`./run test`) they are started once.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# The worker as `marketplace worker` runs it, with arq's INFO log on, so each job it completes is named by id.
_WORKER = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout, "
           "format='%(name)s %(message)s'); from marketplace.cli import main; main(['worker'])")
# arq's line for a finished job: "  0.05s ← <job id>:deliver_notification ● None".
_DONE = re.compile(r"← ([0-9a-f-]{36}):(\w+) ●")


@dataclass
class Proc:
    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        with open(self.log, "wb") as out:
            # A process group of its own: the stop below reaches whatever granian forks.
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


@dataclass
class Cluster:
    servers: list[str]  # base URLs
    workers: list[Proc]
    processes: list[Proc]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(cluster: Cluster) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = set(cluster.servers)
    workers = set(range(len(cluster.workers)))
    while (pending or workers) and time.monotonic() < deadline:
        for proc in cluster.processes:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited early:\n{proc.output()[-3000:]}")
        for base in list(pending):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    pending.discard(base)
        for index in list(workers):
            if "Starting worker for" in cluster.workers[index].output():
                workers.discard(index)
        time.sleep(0.3)
    if pending or workers:
        raise AssertionError(f"not ready within {READY_TIMEOUT:.0f} s: servers {sorted(pending)}, workers "
                             f"{sorted(workers)}\n" + "\n".join(f"--- {p.name}\n{p.output()[-2000:]}"
                                                                for p in cluster.processes))


@pytest.fixture(scope="module")
def cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("two-processes")
    # The settings the test session's own app uses, as MARKETPLACE_* variables (the secret key and signing key
    # file included: both servers must sign and check the same tokens). Plain HTTP on 127.0.0.1, as `marketplace
    # dev`: the back-office's cookies can't be Secure here.
    env = {**os.environ, **settings.to_env(), "MARKETPLACE_WEB_COOKIE_SECURE": "false", "PYTHONPATH": str(ROOT)}
    granian = Path(sys.executable).parent / "granian"
    servers, processes, workers = [], [], []
    for name in ("api-a", "api-b"):
        port = _free_port()
        servers.append(f"http://127.0.0.1:{port}")
        processes.append(Proc(name, [str(granian) if granian.exists() else "granian", "--interface", "asgi",
                                     "--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                     "--no-ws", "--log-level", "warning", "marketplace.app:create_app"],
                              logs / f"{name}.log"))
    for name in ("worker-a", "worker-b"):
        worker = Proc(name, [sys.executable, "-c", _WORKER], logs / f"{name}.log")
        workers.append(worker)
        processes.append(worker)
    running = Cluster(servers, workers, processes)
    try:
        for proc in processes:
            proc.start(env)
        _wait_ready(running)
        yield running
    finally:
        for proc in processes:
            if proc.alive() and proc.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.process.pid, signal.SIGTERM)
        for proc in processes:
            proc.stop()


@pytest.fixture
async def http(cluster: Cluster) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per server, each with a cookie jar of its own (the test carries cookies across by hand)."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=False))
               for base in cluster.servers]


# The in-process app that sets the procedure up for the idempotency test: its clock is frozen in the past while
# the DPS and the contract are opened, then the real one (tests/tenders/test_deadline_race.py).
@pytest.fixture
def clock() -> SetUpThenRealTime:
    return SetUpThenRealTime(datetime.now(UTC) - timedelta(days=60))


@pytest.fixture
def app(settings: Settings, clock: SetUpThenRealTime) -> Litestar:
    return shared_app(settings, clock)


def _remaining(response: httpx.Response) -> int:
    return int(response.headers["ratelimit-remaining"])


async def test_the_login_rate_limit_counts_requests_to_both_processes_together(
        http: list[httpx.AsyncClient]) -> None:
    """One count per client address across the servers: with a count per process the client would get LIMIT
    requests from each."""
    for i in range(LIMIT):
        answer = await http[i % 2].get("/app/connexion")
        assert answer.status_code == 200, (i, answer.text)
        assert _remaining(answer) == LIMIT - i - 1, (i, dict(answer.headers))
    for server in http:
        refused = await server.get("/app/connexion")
        assert refused.status_code == 429 and _remaining(refused) == 0
    # The API's /auth routes share the login page's count (one limit on the address, whatever the door).
    api = await http[1].post("/auth/login", json={"email": email_of("nobody"), "password": "x" * 12})
    assert api.status_code == 429


async def test_the_rate_limit_stays_exact_when_both_processes_are_hit_at_once(
        http: list[httpx.AsyncClient]) -> None:
    """Read-check-write in a shared store would let two processes both read the same count: the count is one
    atomic INCR, so a burst gets exactly LIMIT answers and no more."""
    burst = LIMIT + 40
    answers = await asyncio.gather(*(http[i % 2].get("/app/connexion") for i in range(burst)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: LIMIT, 429: burst - LIMIT}, statuses
    # Every admitted request saw a count of its own: LIMIT - 1 … 0 remaining, each exactly once.
    assert sorted(_remaining(a) for a in answers if a.status_code == 200) == list(range(LIMIT))


async def test_an_api_login_holds_on_the_other_process_and_its_logout_too(
        http: list[httpx.AsyncClient], world: World) -> None:
    a, b = http
    pair = expect(await a.post("/auth/login", json={"email": email_of("buyer_admin"), "password": PASSWORD}), 200)
    bearer = {"Authorization": f"Bearer {pair['accessToken']}"}
    assert expect(await b.get("/auth/me", headers=bearer), 200)["email"] == email_of("buyer_admin")
    # A refresh on B spends the token A issued; A knows at once (the family lives in PostgreSQL).
    renewed = expect(await b.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}), 200)
    assert (await a.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})).status_code == 401
    # Reusing a spent token revoked the family (reuse detection), so log in again for the logout below.
    assert (await a.get("/auth/me", headers={"Authorization": f"Bearer {renewed['accessToken']}"})).status_code \
        == 401
    pair = expect(await b.post("/auth/login", json={"email": email_of("buyer_admin"), "password": PASSWORD}), 200)
    bearer = {"Authorization": f"Bearer {pair['accessToken']}"}
    assert (await a.get("/auth/me", headers=bearer)).status_code == 200
    assert (await a.post("/auth/logout", headers=bearer, json={"refreshToken": pair["refreshToken"]})).status_code \
        == 204
    # The access token has not expired, yet B refuses it at the next request: its family is revoked.
    assert (await b.get("/auth/me", headers=bearer)).status_code == 401
    assert (await a.get("/auth/me", headers=bearer)).status_code == 401


def _cookie(response: httpx.Response, name: str) -> str:
    value = response.cookies.get(name)
    assert value, f"no {name} cookie in {response.headers.get_list('set-cookie')}"
    return value


async def test_a_back_office_session_and_its_csrf_token_hold_on_the_other_process(
        http: list[httpx.AsyncClient], world: World) -> None:
    a, b = http
    # The form and its CSRF cookie from A; the login posted to B, which checks the token with the same secret.
    form = await a.get("/app/connexion")
    assert form.status_code == 200
    token = csrf_token(form.text)
    csrf_cookie = {name: value for name, value in form.cookies.items()}
    b.cookies.clear()
    b.cookies.update(csrf_cookie)
    logged_in = await b.post("/app/connexion", data={"email": email_of("buyer_admin"), "password": PASSWORD,
                                                     "_csrf_token": token})
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/app/", logged_in.text
    session = _cookie(logged_in, SESSION_COOKIE)
    # The session B wrote (in Redis) is the one A reads.
    a.cookies.clear()
    a.cookies.update({**csrf_cookie, SESSION_COOKIE: session})
    page = await a.get("/app/")
    assert page.status_code == 200 and "Buyer Admin" in page.text, page.status_code
    # A CSRF-guarded act on A with the token B's form gave: accepted, since both sign with one derived secret.
    b.cookies.clear()
    b.cookies.update({**csrf_cookie, SESSION_COOKIE: session})
    other_form = await b.get("/app/")
    assert other_form.status_code == 200
    ended = await a.post("/app/deconnexion", data={"_csrf_token": csrf_token(other_form.text)})
    assert ended.status_code == 303 and ended.headers["location"].startswith("/app/connexion"), ended.text
    # B, asked with the very cookie again, no longer knows the session: sent to the login form.
    b.cookies.clear()
    b.cookies.update({**csrf_cookie, SESSION_COOKIE: session})
    after = await b.get("/app/")
    assert after.status_code == 303 and after.headers["location"].startswith("/app/connexion")


@pytest.mark.usefixtures("cpv")
async def test_an_idempotent_submission_replayed_on_the_other_process_gives_the_same_receipt(
        http: list[httpx.AsyncClient], client: Client, world: World, clock: SetUpThenRealTime,
        settings: Settings) -> None:
    """G7 across processes: the key and its answer are in PostgreSQL, not in the process that took it."""
    dps = await open_dps(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    need = await submitted_need(client, world)
    deadline = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    contract = expect(await publish(client, world, need["id"], dps["id"], deadline.isoformat()), 201)
    clock.real = True
    a, b = http
    offer = await prepared_offer(a, world, contract["id"])  # type: ignore[arg-type]  # an httpx client all the same
    headers = {**world["vendor_admin"].headers, "Idempotency-Key": "remise-deux-processus"}
    first = await a.post(f"/offers/{offer['id']}/submit", headers=headers)
    assert first.status_code == 200, first.text
    replayed = await b.post(f"/offers/{offer['id']}/submit", headers=headers)
    assert replayed.status_code == 200 and replayed.content == first.content
    # And at the same instant on both: still the one answer.
    together = await asyncio.gather(*(http[i % 2].post(f"/offers/{offer['id']}/submit", headers=headers)
                                      for i in range(6)))
    assert {r.status_code for r in together} == {200} and {r.content for r in together} == {first.content}
    rows = await fetch(settings, "SELECT status::text AS s, count(*) AS n FROM offer GROUP BY 1")
    assert {r["s"]: r["n"] for r in rows} == {"submitted": 1}
    assert len(await fetch(settings, "SELECT id FROM audit_event WHERE action = 'offer.submitted'")) == 1
    assert len(await fetch(settings, "SELECT key FROM idempotent_response")) == 1


def _completed(workers: list[Proc]) -> dict[str, list[str]]:
    """Job id → the workers that logged it finished."""
    done: dict[str, list[str]] = {}
    for worker in workers:
        for job_id, function in _DONE.findall(worker.output()):
            if function == "deliver_notification":
                done.setdefault(job_id, []).append(worker.name)
    return done


async def test_jobs_recorded_through_both_processes_run_once_across_both_workers(
        http: list[httpx.AsyncClient], cluster: Cluster, settings: Settings, mail_sink: MailSink) -> None:
    requests = 12
    before = _completed(cluster.workers)
    ids = []
    for i in range(requests):
        answer = await http[i % 2].post("/support/requests", json={
            "name": f"Demandeur {i}", "email": f"demandeur.{i}@example.fr", "subject": f"Question {i}",
            "message": "Bonjour, comment candidater ?"})
        ids.append(expect(answer, 201)["id"])
    expected = 2 * requests  # the desk's copy and the requester's acknowledgement

    async def intents() -> Counter[str]:
        return Counter(r["status"] for r in await fetch(settings, "SELECT status::text AS status FROM job_intent"))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(mail_sink.messages) >= expected and await intents() == {"done": expected}:
            break
        await asyncio.sleep(0.2)
    assert await intents() == {"done": expected}, await intents()
    await asyncio.sleep(1.5)  # a second delivery, if there were one, would land within the workers' polls
    sent = [message for message, _ in mail_sink.messages]
    assert len(sent) == expected, [m["Subject"] for m in sent]
    assert len({m["Message-ID"] for m in sent}) == expected
    for i, request_id in enumerate(ids):
        assert len(mail_sink.to(f"demandeur.{i}@example.fr")) == 1
        assert sum(request_id in m["Subject"] for m in sent) == 1  # the acknowledgement names the request
    assert len(mail_sink.to(settings.support_email)) == requests
    # Each job id ran on one worker only; how they shared the work is printed for the record.
    done = {job: names for job, names in _completed(cluster.workers).items() if job not in before}
    assert len(done) == expected and all(len(names) == 1 for names in done.values()), done
    shares = Counter(names[0] for names in done.values())
    print(f"\ndeliveries per worker: {dict(shares)}")
