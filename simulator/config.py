"""Settings, read from ``SIMULATOR_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    """The demo folder: the checkout's top-level copy, else the one shipped in the wheel."""
    checkout = _PACKAGE.parent / name
    if (checkout / ".simulator-data").exists():
        return checkout
    return _PACKAGE / "_demo" / name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIMULATOR_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        default=None, description="Base URL the simulator is reached at; default http://host:port"
    )
    database_url: str = "sqlite+aiosqlite:///./var/simulator.db"
    broker_url: str | None = Field(default=None, description="amqp://… for RabbitMQ; unset = in-process")
    routes_dir: Path = Field(default_factory=lambda: _bundled("routes"))
    messages_dir: Path = Field(default_factory=lambda: _bundled("messages"))

    max_body_bytes: int = 10 * 1024 * 1024
    record_body_max_bytes: int = 256 * 1024
    retention_max_exchanges: int = 200_000
    retention_days: float | None = Field(
        default=None, gt=0, description="also delete recorded exchanges older than this (days, fractions allowed)"
    )
    mask_cpr: bool = Field(
        default=True, description="mask CPR numbers in the bodies the UI shows and in exported scenarios"
    )
    record_batch_size: int = 500
    record_durable: bool = Field(
        default=True, description="answer a call only once its exchange is committed (group commit)"
    )
    writer_stop_timeout_s: float = Field(
        default=4.0, description="on shutdown, how long to wait for what is queued for the database"
    )
    writer_stuck_after_s: float = Field(
        default=5.0, description="/healthz reports the database writer not ok once an item waits this long"
    )
    forward_timeout_s: float = 30.0
    admin_token: str | None = None
    allowed_hosts: str = Field(
        default="",
        description="comma-separated host names the simulator answers to besides localhost, 127.0.0.1, ::1, the "
        "bind host and the public URL's host (DNS rebinding guard); `*` = any",
    )
    config_refresh_s: float = Field(
        default=1.0, description="how often to pick up route/agreement edits made by another process"
    )
    components: list[str] = Field(
        default_factory=lambda: ["ky", "beskedfordeler", "klassifikation", "security", "scenarios"],
        description="capabilities to load (sub-packages of simulator); the Serviceplatform core always runs",
    )
    log_level: str = "info"

    # Security models (docs/security.md). Off by default: plain HTTP, no certificate or token checks.
    security_mode: Literal["off", "certificate", "token", "both"] = "off"
    certs_dir: Path = Field(default=Path("./var/certs"), description="the test PKI (`simulator certs init`)")
    tls_certfile: Path | None = Field(default=None, description="server certificate; set = serve HTTPS")
    tls_keyfile: Path | None = None
    tls_ca_file: Path | None = Field(default=None, description="CA(s) of client certificates; default certs_dir/ca.pem")
    sts_certfile: Path | None = Field(default=None, description="STS signing certificate; default certs_dir/sts.pem")
    sts_keyfile: Path | None = None
    sts_issuer: str = "urn:simulator:sts"
    sts_token_lifetime_s: int = 8 * 3600
    security_clock_skew_s: int = 300
    security_require_message_signature: bool = True
    security_timestamp_max_s: int = Field(
        default=3600, gt=0, description="the longest wsu:Timestamp (Created to Expires) taken on a signed message"
    )
    security_besked_proof: bool = Field(
        default=True,
        description="token model: a Beskedfordeler request proves possession of the token's key "
        "(TLS client certificate, or header token-signature)",
    )

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_certfile else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
