"""HTTP fixtures: the real app over the test facade."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from engine.commands import Aftercare


@pytest.fixture
def client(facade: Aftercare) -> Iterator[TestClient]:
    """A client of the app; the background worker is off so tests drive time themselves."""
    with TestClient(create_app(facade, run_worker=False)) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str = "demo") -> dict[str, str]:
    """Authorization header for a demo user."""
    response = client.post("/api/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
