"""Configuration from AFTERCARE_* environment variables."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "development-only-secret-change-me-0000"


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
    link_valid_days: int = 14
    token_minutes: int = 720
    mail_in_host: str = "127.0.0.1"  # the SMTP listener the support mailbox's server forwards to
    mail_in_port: int = 0  # 0: `serve` does not listen (`aftercare mail-in` listens on 2525 unless told)
    mail_in_max_bytes: int = 25 * 1024 * 1024  # a larger message is refused with 552 before it is stored
    digest_minutes: int = 10  # a burst of staff notices to one person within this window leaves as one digest
    extra_holidays: Annotated[list[date], NoDecode] = []  # days off beyond chinese_calendar's, e.g. next year's
    extra_workdays: Annotated[list[date], NoDecode] = []  # make-up workdays (调休) beyond chinese_calendar's

    @field_validator("extra_holidays", "extra_workdays", mode="before")
    @classmethod
    def _date_list(cls, value: Any) -> Any:
        """Dates from the environment come comma-separated: 2027-02-09,2027-02-10."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _defaults_and_guard(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'aftercare.db'}"
        if self.environment != "development" and self.secret_key == DEV_SECRET:
            raise ValueError("AFTERCARE_SECRET_KEY must be set outside development")
        if not 1 <= self.digest_minutes <= 24 * 60:
            raise ValueError("AFTERCARE_DIGEST_MINUTES must be between 1 and 1440")
        if not 0 <= self.mail_in_port <= 65535:
            raise ValueError("AFTERCARE_MAIL_IN_PORT must be between 0 and 65535")
        if self.mail_in_max_bytes < 1024:
            raise ValueError("AFTERCARE_MAIL_IN_MAX_BYTES must be at least 1024")
        if len(self.secret_key) < 32:
            raise ValueError("AFTERCARE_SECRET_KEY must be at least 32 characters")
        return self
