"""The `aftercare` command: users, demo and deploy against a fresh database."""
from __future__ import annotations

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


def test_users_add_demo_and_deploy(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "alice", "--role", "engineer", "--password", "s3cret!", "--email",
                 "alice@example.com"]) == 0
    assert main(["deploy"]) == 0  # `users` deployed the directory already: nothing new, no version
    assert "nothing new" in capsys.readouterr().out
    assert main(["demo"]) == 0
    facade = Aftercare(env)
    try:
        assert {"maintenance_request": 1}.items() <= {p["process_id"]: p["version"]
                                                      for p in facade.list_processes()}.items()
        assert facade.authenticate(username="alice", password="s3cret!").role == "engineer"
        assert facade.authenticate(username="engineer", password="demo").role == "engineer"
        with pytest.raises(Unauthorized):
            facade.authenticate(username="alice", password="wrong")
    finally:
        facade.close()


def test_users_add_refuses_an_unknown_role(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "bob", "--role", "wizard", "--password", "x"]) == 1
    assert "role" in capsys.readouterr().err


def test_deploy_of_a_broken_directory_names_the_problem(env: Settings, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "procs"
    bad.mkdir()
    (bad / "x.bpmn").write_text("<definitions>")
    assert main(["deploy", str(bad)]) == 2
    assert "x.bpmn:1" in capsys.readouterr().err


def test_repeated_wrong_passwords_do_not_lock_the_real_user_out(env: Settings) -> None:
    """Five wrong passwords from one address slow that address down (issue 11); the user logs in from another."""
    assert main(["users", "add", "carol", "--role", "manager", "--password", "right"]) == 0
    facade = Aftercare(env)
    try:
        for _ in range(5):
            with pytest.raises(Unauthorized):
                facade.authenticate(username="carol", password="wrong", address="203.0.113.9")
        assert facade.authenticate(username="carol", password="right", address="198.51.100.20").name == "carol"
    finally:
        facade.close()
