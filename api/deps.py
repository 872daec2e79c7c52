"""Authentication dependencies shared by the routers."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import OAuth2PasswordBearer

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


def api_actor(facade: Facade, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    """The staff user behind the bearer token while its session lives (one indexed read); 401 otherwise."""
    if not token:
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = token_claims(token, facade.settings.secret_key)
        actor = facade.sessions.actor_for(token=str(claims["sid"]))
    except (jwt.PyJWTError, KeyError, Unauthorized):
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from None
    if actor.name != claims.get("sub"):
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return actor


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
