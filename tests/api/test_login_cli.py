"""`aftercare users add` asks for the password twice when --password is left out (it stays out of the shell
history and the process list); --password still works, as the fixed contract says."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from engine.commands import Aftercare
from engine.errors import Unauthorized
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Settings:
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_PROCESSES_DIR", str(ROOT / "processes"))
    monkeypatch.setenv("AFTERCARE_FORMS_DIR", str(ROOT / "forms"))
    return Settings()


@pytest.fixture
def typed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the operator types at the password prompts, in order."""
    answers: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": answers.pop(0))
    return answers


@pytest.fixture
def facade_of(env: Settings) -> Iterator[list[Aftercare]]:
    made: list[Aftercare] = []
    yield made
    for facade in made:
        facade.close()


def test_the_password_is_asked_for_twice(env: Settings, typed: list[str], facade_of: list[Aftercare],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    typed.extend(["dora-secret-1", "dora-secret-1"])
    assert main(["users", "add", "dora", "--role", "engineer", "--email", "dora@example.com"]) == 0
    assert typed == [] and "dora (engineer) saved" in capsys.readouterr().out
    facade_of.append(facade := Aftercare(env))
    assert facade.authenticate(username="dora", password="dora-secret-1").role == "engineer"


def test_two_different_or_short_passwords_save_nothing(env: Settings, typed: list[str], facade_of: list[Aftercare],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    typed.extend(["dora-secret-1", "dora-secret-2"])
    assert main(["users", "add", "dora", "--role", "engineer"]) == 1
    assert "differ" in capsys.readouterr().err
    typed.extend(["short"])
    assert main(["users", "add", "dora", "--role", "engineer"]) == 1
    assert "characters" in capsys.readouterr().err
    assert main(["users", "add", "dora", "--role", "wizard"]) == 1  # refused before any prompt
    assert typed == []
    facade_of.append(facade := Aftercare(env))
    with pytest.raises(Unauthorized):
        facade.authenticate(username="dora", password="dora-secret-1")


def test_re_adding_a_user_with_a_new_password_ends_their_sessions(env: Settings, facade_of: list[Aftercare]) -> None:
    assert main(["users", "add", "eve", "--role", "engineer", "--password", "first-password"]) == 0
    facade_of.append(facade := Aftercare(env))
    _, token = facade.sessions.log_in(username="eve", password="first-password", address="", kind="api")
    assert facade.sessions.actor_for(token=token).name == "eve"
    assert main(["users", "add", "eve", "--role", "engineer", "--password", "second-password"]) == 0
    with pytest.raises(Unauthorized):
        facade.sessions.actor_for(token=token)
