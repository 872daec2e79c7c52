"""Configuration from AFTERCARE_* environment variables."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "development-only-secret-change-me-0000"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Settings(BaseSettings):
    """All settings of one Aftercare process; see README for each variable."""

    model_config = SettingsConfigDict(env_prefix="AFTERCARE_", extra="ignore")

    environment: str = "development"
    database_url: str = ""
    secret_key: str = DEV_SECRET
    base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "Aftercare 售后服务 <aftercare@localhost>"
    processes_dir: Path = Path("processes")
    forms_dir: Path = Path("forms")
    var_dir: Path = Path("var")
    scheduler_interval: float = 0.5
    run_worker: bool = True  # 0: `serve` leaves timers, mail and mail-in to dedicated `aftercare worker` processes
    link_valid_days: int = 14
    token_minutes: int = 720  # an API token's lifetime
    session_idle_minutes: int = 720  # a browser session or API token unused this long ends
    session_max_hours: int = 24  # a browser session ends this long after login, used or not
    mail_in_host: str = "127.0.0.1"  # the SMTP listener the support mailbox's server forwards to
    mail_in_port: int = 0  # 0: `serve` does not listen (`aftercare mail-in` listens on 2525 unless told)
    mail_in_max_bytes: int = 25 * 1024 * 1024  # a larger message is refused with 552 before it is stored
    digest_minutes: int = 10  # a burst of staff notices to one person within this window leaves as one digest
    mail_lease_seconds: int = 30  # a sender's claim on a message; renewed while it works, taken back once expired
    script_cpu_seconds: float = 1.0  # CPU time one evaluation of diagram code may take (engine/script_limits.py)
    extra_holidays: Annotated[list[date], NoDecode] = []  # days off beyond chinese_calendar's, e.g. next year's
    extra_workdays: Annotated[list[date], NoDecode] = []  # make-up workdays (调休) beyond chinese_calendar's

    @field_validator("extra_holidays", "extra_workdays", mode="before")
    @classmethod
    def _date_list(cls, value: Any) -> Any:
        """Dates from the environment come comma-separated: 2027-02-09,2027-02-10."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("smtp_from")
    @classmethod
    def _one_line(cls, value: str) -> str:
        """The sender goes into every e-mail's From header as it is: a line break would start a header of its own."""
        if value and value.splitlines() != [value]:  # \r, \n and the other breaks the e-mail library refuses
            raise ValueError("AFTERCARE_SMTP_FROM may not contain a line break")
        return value

    def is_local_development(self) -> bool:
        """Development on this machine only: AFTERCARE_ENVIRONMENT=development (the default) and a plain-http base
        URL on a loopback host. Anything reachable from elsewhere (another host name, https) is not development,
        whatever AFTERCARE_ENVIRONMENT says: the published secret would let anyone forge sessions and links."""
        url = urlsplit(self.base_url)
        return self.environment == "development" and url.scheme == "http" and url.hostname in LOOPBACK

    @property
    def https(self) -> bool:
        """Whether the app is served over https (Secure cookies, HSTS)."""
        return self.base_url.lower().startswith("https://")

    @model_validator(mode="after")
    def _defaults_and_guard(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'aftercare.db'}"
        if self.secret_key == DEV_SECRET and not self.is_local_development():
            raise ValueError("AFTERCARE_SECRET_KEY must be set: the published development secret is accepted only "
                             "with AFTERCARE_ENVIRONMENT=development and an http:// AFTERCARE_BASE_URL on this "
                             "machine (127.0.0.1, localhost or ::1)")
        if not 1 <= self.session_idle_minutes <= 30 * 24 * 60 or not 1 <= self.session_max_hours <= 90 * 24:
            raise ValueError("AFTERCARE_SESSION_IDLE_MINUTES must be 1 to 43200, AFTERCARE_SESSION_MAX_HOURS 1 to 2160")
        if not 1 <= self.digest_minutes <= 24 * 60:
            raise ValueError("AFTERCARE_DIGEST_MINUTES must be between 1 and 1440")
        if not 3 <= self.mail_lease_seconds <= 3600:
            raise ValueError("AFTERCARE_MAIL_LEASE_SECONDS must be between 3 and 3600")
        if not 0 <= self.mail_in_port <= 65535:
            raise ValueError("AFTERCARE_MAIL_IN_PORT must be between 0 and 65535")
        if self.mail_in_max_bytes < 1024:
            raise ValueError("AFTERCARE_MAIL_IN_MAX_BYTES must be at least 1024")
        if len(self.secret_key) < 32:
            raise ValueError("AFTERCARE_SECRET_KEY must be at least 32 characters")
        return self
