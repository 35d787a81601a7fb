"""Helpers for the back-office's tests: a browser-like session per person (a cookie jar of its own, over HTTPS so
that the `Secure` cookies travel), the login through the real form, and the CSRF token read from the page.

The app runs once, behind the test's `client` (its lifespan, its event loop); each `Browser` swaps its own
cookie jar in for its requests, so several people browse side by side as several browsers would.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.world import PASSWORD

BASE_URL = "https://testserver.local"
_CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


class Browser:
    def __init__(self, client: AsyncTestClient[Litestar]) -> None:
        self.client = client
        self.cookies = httpx.Cookies()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # Over HTTPS whatever the client's own base URL (the session's cookies are Secure).
        url = BASE_URL + url if url.startswith("/") else url
        saved = self.client.cookies
        self.client.cookies = self.cookies
        try:
            return await self.client.request(method, url, follow_redirects=False, **kwargs)
        finally:
            self.cookies = self.client.cookies
            self.client.cookies = saved

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)


_HELP = re.compile(r'<details class="help" id="aide">.*?</details>', re.S)


def without_help(html: str) -> str:
    """A page without its help region: the help names the acts' buttons, whether or not they are shown."""
    return _HELP.sub("", html)


def csrf_token(html: str) -> str:
    match = _CSRF_FIELD.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def login(web: Browser, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await web.get("/app/connexion")
    assert form.status_code == 200, form.text
    return await web.post("/app/connexion", data={"email": email, "password": password,
                                                  "_csrf_token": csrf_token(form.text)})
