"""The managers' dashboard: its figures as JSON (GET /api/dashboard) and the staff page that draws them
(GET /dashboard). The JSON answers a bearer token or the staff session, so the page's script fetches it with the
session cookie. The facade lets managers, process owners and admins see it; others get 403 (the JSON error, or
the staff error page)."""
from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from engine.errors import Unauthorized
from engine.users import Actor

from . import i18n
from .deps import Facade, bearer_actor, oauth2
from .security import StaffActor
from .staff import page

router = APIRouter(tags=["oversight"])  # each route names its own authentication: a token or session, or a session
METRICS = {"triage": "Triage", "response": "Response", "resolve": "Resolution", "callback": "Callback"}
CHART_WORDS = ("This month", "Last month", "Target", "Open tasks, not overdue", "Overdue", "Mean", "90th percentile",
               "Response", "Resolution", "Share of 4–5 scores", "Quarterly survey score", "Tickets",
               "The charts could not be drawn; the figures below are current.")
_ = i18n.gettext


def viewer(request: Request, facade: Facade, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    """The bearer token's staff user, else the staff session's; 401 when there is neither."""
    if token:
        return bearer_actor(facade, token)
    username = request.session.get("user")
    if username:
        with contextlib.suppress(Unauthorized):  # a user since deactivated
            return facade.actor(username=str(username))
    raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})


@router.get("/api/dashboard")
def dashboard_json(facade: Facade, actor: Annotated[Actor, Depends(viewer)]) -> dict[str, Any]:
    """Open tickets, breaches and risks now, SLA compliance, times, workload, satisfaction, inspections and quotes
    this month against last month (shape: engine/figures.py)."""
    return facade.dashboard(actor=actor)


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """Every figure as text and numbers; /static/dashboard.js draws the charts from GET /api/dashboard."""
    figures = facade.dashboard(actor=actor)
    return page(request, "dashboard", actor, figures=figures, labels=labels(figures))


def labels(figures: dict[str, Any]) -> dict[str, str]:
    """The words the charts need in the reader's language: each status and category shown, the severities, the
    SLA clocks and the series names."""
    keys = [row["key"] for group in ("by_status", "by_category") for row in figures["open"][group]]
    words = {str(key): _(str(key)) for key in keys}
    words |= {f"severity_{row['key']}": f"{_('Severity')} {row['key']}" for row in figures["open"]["by_severity"]}
    words |= {f"metric_{metric}": _(name) for metric, name in METRICS.items()}
    return words | {word: _(word) for word in CHART_WORDS}
