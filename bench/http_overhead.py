"""HTTP overhead benchmark: what the web stack costs per request on top of the work a request asks for.

Three requests, each measured in CPU time (the machine may be shared; CPU time is what a request costs):

  * `GET /healthz` (no login, no database: the middlewares, routing and JSON alone);
  * `GET /api/tasks` as the admin with a bearer token (authentication, one task-list page, JSON);
  * `GET /` the staff task-list page with a logged-in browser session (session cookie, CSRF, template).

Each is measured two ways, interleaved in rounds: (asgi) the ASGI app called in this process with a hand-made
request, without sockets, so only the app's own stack is counted (middlewares, routing, dependencies, endpoint);
(http) `aftercare serve` in a process of its own (worker off) driven over a keep-alive connection, its CPU read
from /proc, so uvicorn's HTTP parsing is counted and the client's work is not. Against these: (verb) the facade
call the request makes, in this process (`facade.worklist` for both task lists; nothing for the health check), and
the request's cost as a ratio to it. Medians over rounds.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from api import i18n
from api.app import create_app
from bench.common import TICKET, open_facade
from bench.through_http import Server
from engine.commands import Aftercare
from engine.users import Actor
from engine.worklist import TaskListQuery

ADMIN = Actor("admin", "admin")
DESK = Actor("service_desk", "service_desk")


class Asgi:
    """Calls the app directly with a minimal HTTP scope; collects nothing but the status."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def get(self, path: str, headers: list[tuple[bytes, bytes]], times: int = 1) -> int:
        """Status of the last of `times` requests, all made in one run of the loop (as in a server, whose
        thread pool outlives a request)."""
        return self.loop.run_until_complete(self._many(path, headers, times))

    async def _many(self, path: str, headers: list[tuple[bytes, bytes]], times: int) -> int:
        status = 0
        for _ in range(times):
            status = await self._get(path, headers)
        return status

    async def _get(self, path: str, headers: list[tuple[bytes, bytes]]) -> int:
        raw, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": raw, "raw_path": raw.encode(), "root_path": "",
                 "query_string": query.encode(), "headers": [(b"host", b"127.0.0.1"), *headers],
                 "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {}}
        status, requested, done = 0, False, asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # as a server does: nothing more until the client goes away
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await self.app(scope, receive, send)
        return status

    def close(self) -> None:
        self.loop.close()


class Http:
    """Keep-alive requests to a `Server`, answering with the status as `Asgi.get` does."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60)

    def get(self, path: str, headers: list[tuple[bytes, bytes]]) -> int:
        return self.client.get(path, headers={k.decode(): v.decode() for k, v in headers}).status_code

    def close(self) -> None:
        self.client.close()


async def former_language(request: Request, call_next: Any) -> Response:
    """The language layer as it was before it became a plain ASGI middleware (`@app.middleware("http")`)."""
    chosen = request.query_params.get("lang")
    lang = i18n.negotiate(chosen, request.cookies.get("lang"), request.headers.get("accept-language"))
    i18n.activate(lang)
    response: Response = await call_next(request)
    if chosen in i18n.LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def former_app(facade: Aftercare) -> Any:
    """The app with its former BaseHTTPMiddleware language layer in place of `i18n.LanguageMiddleware`."""
    app = create_app(facade, run_worker=False)
    app.user_middleware = [Middleware(BaseHTTPMiddleware, dispatch=former_language)
                           if m.cls is i18n.LanguageMiddleware else m for m in app.user_middleware]
    assert any(m.cls is BaseHTTPMiddleware for m in app.user_middleware), "no language layer found"
    return app


def log_in(app: Any) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """Headers of a bearer token (admin) and of a logged-in browser session (admin), through the app itself."""
    with TestClient(app) as client:
        token = client.post("/api/token", data={"username": "admin", "password": "demo"})
        token.raise_for_status()
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, "no CSRF token on the login page"
        done = client.post("/login", data={"username": "admin", "password": "demo", "csrf": csrf.group(1),
                                           "next": "/"}, follow_redirects=False)
        assert done.status_code == 303, f"login: {done.status_code}"
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    bearer = [(b"authorization", f"Bearer {token.json()['access_token']}".encode())]
    return bearer, [(b"cookie", cookie.encode())]


def cpu_per_call(run: Callable[[], Any], calls: int, clock: Callable[[], float] = time.process_time) -> float:
    """CPU seconds per call of `run` over `calls` calls."""
    start = clock()
    for _ in range(calls):
        run()
    return (clock() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--calls", type=int, default=100, help="requests per round and kind (default 100)")
    parser.add_argument("--tickets", type=int, default=30, help="open tickets in the task list (default 30)")
    args = parser.parse_args(argv)
    print(f"Aftercare HTTP overhead: {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f}; CPU ms per request, "
          f"medians of {args.rounds} rounds of {args.calls}", flush=True)
    with tempfile.TemporaryDirectory(prefix="aftercare-http-") as tmp:
        facade: Aftercare = open_facade(Path(tmp))
        for _ in range(args.tickets):
            facade.create_ticket(**TICKET, actor=DESK)
        app = create_app(facade, run_worker=False)
        bearer, cookie = log_in(app)
        asgi, former, server = Asgi(app), Asgi(former_app(facade)), Server(Path(tmp), worker=False)
        serve = Http(server.url)
        requests = {"GET /healthz": ("/healthz", []), "GET /api/tasks": ("/api/tasks", bearer),
                    "GET / (staff page)": ("/", cookie)}
        verbs: dict[str, Callable[[], Any] | None] = {
            "GET /healthz": None,
            "GET /api/tasks": lambda: facade.worklist(actor=ADMIN, query=TaskListQuery()),
            "GET / (staff page)": lambda: facade.worklist(actor=ADMIN, query=TaskListQuery())}
        try:
            for name, (path, headers) in requests.items():  # warm up, and check each answers 200
                for client in (asgi, former, serve):
                    status = client.get(path, headers)
                    assert status == 200, f"{name} answered {status}"
            samples: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for name, (path, headers) in requests.items():
                    for kind, app_client in (("asgi", asgi), ("former", former)):
                        samples.setdefault((name, kind), []).append(cpu_per_call(
                            partial(app_client.get, path, headers, args.calls), 1) / args.calls)
                    samples.setdefault((name, "http"), []).append(
                        cpu_per_call(partial(serve.get, path, headers), args.calls, server.cpu))
                    verb = verbs[name]
                    if verb:
                        samples.setdefault((name, "verb"), []).append(cpu_per_call(verb, args.calls))
        finally:
            serve.close()
            server.stop()
            asgi.close()
            former.close()
            facade.close()
    ms = {key: statistics.median(values) * 1000 for key, values in samples.items()}
    print("\n| request | (former) app, BaseHTTPMiddleware language layer | (asgi) app, plain ASGI middlewares | "
          "(asgi) / (former) | (http) server process | (verb) in process | (http) / (verb) |")
    print("|---|---|---|---|---|---|---|")
    for name in requests:
        verb_ms = ms.get((name, "verb"))
        former_ms, asgi_ms, http_ms = ms[(name, "former")], ms[(name, "asgi")], ms[(name, "http")]
        print(f"| {name} | {former_ms:.2f} | {asgi_ms:.2f} | {asgi_ms / former_ms:.2f}x | {http_ms:.2f} | "
              f"{f'{verb_ms:.2f}' if verb_ms else '-'} | {f'{http_ms / verb_ms:.1f}x' if verb_ms else '-'} |")
    health, tasks = ms[("GET /healthz", "asgi")], ms[("GET /api/tasks", "verb")]
    print(f"\n/healthz: uvicorn adds {ms[('GET /healthz', 'http')] - health:.2f} ms to the app's "
          f"{health:.2f} ms; through the app alone it costs {health / tasks:.2f}x an in-process task-list page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
