"""Authentication dependencies shared by the routers."""
from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, cast

import jwt
from fastapi import Depends, HTTPException, Path, Request
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from engine.commands import Aftercare
from engine.errors import Unauthorized
from engine.users import Actor

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


async def get_facade(request: Request) -> Aftercare:
    """The process-wide facade (async: nothing here blocks, so FastAPI need not hop to its thread pool for it)."""
    facade: Aftercare = request.app.state.facade
    return facade


Facade = Annotated[Aftercare, Depends(get_facade)]

MAX_DB_ID = 2**31 - 1  # the largest id a row can have: the id columns are 32-bit integers on PostgreSQL
# A database id in a route's path: 0, a negative id or one no column can hold answers 422 naming the parameter,
# before the handler asks the database (where it would overflow: a 500). Every {..._id} path parameter uses it.
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
# A task id in a route's path (a UUID, 36 characters): a longer one names no task and answers 422 naming the parameter;
# control characters are refused for every parameter by api/validation.py.
TaskId = Annotated[str, Path(min_length=1, max_length=64)]


def issue_token(facade: Aftercare, actor: Actor, session: str | None = None) -> str:
    """A signed bearer token for an authenticated staff user, carrying its server-side session (`session`, or a new
    one); the session, not the signature, decides whether it still works."""
    session = session or facade.sessions.start(username=actor.name, kind="api")
    expires = datetime.now(UTC) + timedelta(minutes=facade.settings.token_minutes)
    return jwt.encode({"sub": actor.name, "role": actor.role, "sid": session, "exp": expires},
                      facade.settings.secret_key, algorithm="HS256")


async def api_actor(request: Request, facade: Facade, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    """The staff user behind the bearer token while its session lives; 401 otherwise. The token's signature and
    expiry are checked here; its session (one indexed read) in the thread that runs the endpoint when the route is
    an `ApiRoute` (one trip to the thread pool, not two), else in a thread of its own."""
    claims = _claims(token, facade)
    route = request.scope.get("route")
    if isinstance(route, ApiRoute) and route.checks_session:
        pending = _Unchecked(facade, claims)
        _unchecked.set(pending)
        return cast(Actor, pending)  # never used as one: the route puts the checked actor in its place
    return await run_in_threadpool(_session_actor, facade, claims)


def bearer_actor(facade: Aftercare, token: str | None) -> Actor:
    """`api_actor` for a caller outside a route's dependencies (it blocks: call it from a thread)."""
    return _session_actor(facade, _claims(token, facade))


def _claims(token: str | None, facade: Aftercare) -> dict[str, Any]:
    if not token:
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    try:
        return token_claims(token, facade.settings.secret_key)
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from None


def _session_actor(facade: Aftercare, claims: dict[str, Any]) -> Actor:
    """The user of the token's server-side session, if it still lives and is theirs; 401 otherwise."""
    try:
        actor = facade.sessions.actor_for(token=str(claims["sid"]))
    except (KeyError, Unauthorized):
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from None
    if actor.name != claims.get("sub"):
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return actor


class _Unchecked:
    """A bearer token whose signature holds and whose session is yet to be checked, handed from `api_actor` to the
    `ApiRoute` that runs the endpoint. Not an Actor: were it ever used as one, the request would fail, not pass."""

    def __init__(self, facade: Aftercare, claims: dict[str, Any]) -> None:
        self.facade, self.claims = facade, claims

    def check(self) -> Actor:
        return _session_actor(self.facade, self.claims)


_unchecked: ContextVar[_Unchecked | None] = ContextVar("aftercare_unchecked_token", default=None)


class ApiRoute(APIRoute):
    """A JSON API route whose synchronous endpoint runs in one trip to the thread pool, the bearer token's session
    check first. FastAPI would make three: one for the session check (a synchronous dependency), one for the
    endpoint and one for validating its answer; each trip cost some 0.25 ms of CPU on a slow day (README, Performance).
    The endpoint is wrapped in a coroutine, so FastAPI validates the answer in the event loop. The actor reaches the
    endpoint as a parameter of its own (`actor: ApiActor`) or not at all: a dependency that asks for it is refused
    when the app is built, since only the endpoint's own parameters get the checked actor."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        one_trip = getattr(endpoint, "_one_trip", False)  # a route copied when its router is included
        plain = inspect.isfunction(endpoint) and not (inspect.iscoroutinefunction(endpoint)
                                                      or inspect.isgeneratorfunction(endpoint))
        self.checks_session = one_trip or plain
        super().__init__(path, _one_trip(endpoint) if plain and not one_trip else endpoint, **kwargs)
        if self.checks_session:
            for dependency in self.dependant.dependencies:
                if dependency.call is not api_actor and _asks_for_actor(dependency):
                    raise RuntimeError(f"{path}: a dependency of an ApiRoute takes the actor; take it as a parameter "
                                       "of the endpoint (api/deps.py ApiRoute)")


def _asks_for_actor(dependant: Any) -> bool:
    return any(sub.call is api_actor or _asks_for_actor(sub) for sub in dependant.dependencies)


def _one_trip(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the parameters, their types and the answer's type through this
    async def run(**values: Any) -> Any:
        try:
            return await run_in_threadpool(_checked_call, endpoint, values)
        finally:
            _unchecked.set(None)  # a caller driving the app in its own task keeps nothing of this request
    # the types resolved where the endpoint was written, whichever way a FastAPI version reads them
    with contextlib.suppress(NameError):
        run.__signature__ = inspect.signature(endpoint, eval_str=True)  # type: ignore[attr-defined]
    run._one_trip = True  # type: ignore[attr-defined]
    return run


def _checked_call(endpoint: Callable[..., Any], values: dict[str, Any]) -> Any:
    """Check the request's bearer session (401 before the endpoint runs), then run the endpoint with its actor."""
    pending = _unchecked.get()
    if pending is not None:
        actor = pending.check()
        values = {name: actor if value is pending else value for name, value in values.items()}
    return endpoint(**values)


def token_claims(token: str, key: str) -> dict[str, Any]:
    """The claims of a bearer token signed with `key` that has not expired; jwt.PyJWTError otherwise. A client sends
    the same token with every request: its signature is checked once per process (a bounded cache of tokens that
    verified), its expiry every time. The session it names is still looked up on each request (api_actor)."""
    claims = _verified(token, key)
    if claims["exp"] <= time.time():
        raise jwt.ExpiredSignatureError("Signature has expired")
    return dict(claims)


@lru_cache(maxsize=4096)
def _verified(token: str, key: str) -> dict[str, Any]:
    """The token's claims if `key` signed it (a refused token raises and is not cached); `exp` required, a number."""
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"],
                                        options={"verify_exp": False, "require": ["exp"]})
    if not isinstance(claims["exp"], int | float) or isinstance(claims["exp"], bool):
        raise jwt.InvalidTokenError("exp is not a number")
    return claims


ApiActor = Annotated[Actor, Depends(api_actor)]
