"""The one settings class of every cityhub process.

Values come from ``CITYHUB_*`` environment variables. ``load_settings`` takes the
environment as an argument, so tests pass a dict and never patch ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.device_tokens import TokenKeys, parse_keys
from hub.errors import ConfigError
from hub.secret_strength import GENERATE_SECRET, secret_key_problem

PREFIX = "CITYHUB_"


def _default_state_dir() -> Path:
    # root has no per-user state worth hiding in /root; a system path keeps the embedded
    # PostgreSQL (which runs as its own user) out of root's home.
    if os.geteuid() == 0:
        return Path("/var/lib/cityhub")
    return platformdirs.user_state_path("cityhub")


class MqttTarget:
    """Where and as whom to connect to the broker, parsed from ``CITYHUB_MQTT_URL``."""

    __slots__ = ("host", "password", "port", "username")

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password


class Settings(BaseSettings):
    """All configuration, validated once at start."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    database_url: str | None = None
    # A streaming replica for the data scientists' reads (datasets API, `cityhub export`);
    # unset: they read the primary (docs/scaling.md).
    replica_database_url: str | None = None
    mqtt_url: str | None = None
    http_port: int = Field(default=8080, ge=1, le=65535)
    secret_key: SecretStr = SecretStr("")
    pseudonym_key_file: Path | None = None
    demo: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text for a terminal, json for one object per line (hub/logs.py, docs/operations.md).
    log_format: Literal["text", "json"] = "text"
    state_dir: Path = Field(default_factory=lambda: _default_state_dir())
    storage_profile: Literal["auto", "plain", "timescale"] = "auto"
    kinds_file: Path | None = None
    # MQTT 5 gives shared subscriptions and Receive Maximum; 3.1.1 is for brokers without it.
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    # Where `cityhub broker config` and the device commands write Mosquitto's passwd/acl
    # files, and the broker's pid file to send SIGHUP to after a change (docs/devices.md).
    broker_dir: Path | None = None
    broker_pid_file: Path | None = None
    # Device tokens are stored as HMAC-SHA-256 under this key, kept out of the database;
    # earlier keys (comma-separated) still let their devices in, which are then re-hashed
    # under the current one (hub/device_tokens.py, docs/devices.md). Unset: argon2, slowly.
    device_token_key: SecretStr = SecretStr("")
    device_token_old_keys: SecretStr = SecretStr("")
    # Signed checkpoints of the audit log's head, kept outside the database (docs/security.md);
    # unset: audit-checkpoints.jsonl in the state directory.
    audit_checkpoint_file: Path | None = None
    # The audit chain's HMAC key file (hub/audit_keys.py); unset: audit-keys.json there too.
    audit_key_file: Path | None = None

    ingest_client_id: str = "cityhub-ingest-1"
    ingest_shared_group: str = "cityhub-ingest"
    ingest_batch_size: int = Field(default=2000, ge=1, le=100_000)
    ingest_batch_ms: int = Field(default=50, ge=1, le=60_000)
    # Database connections committing batches side by side (ingest/writer.py).
    ingest_writers: int = Field(default=2, ge=1, le=8)
    ingest_receive_maximum: int = Field(default=10_000, ge=10, le=65_535)
    ingest_metrics_port: int = Field(default=9108, ge=0, le=65535)
    ingest_metrics_host: str = "127.0.0.1"

    # Operations console (ops_console): HTTP, tokens, login throttling.
    http_host: str = "127.0.0.1"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 90)
    # Login throttling (docs/console.md): failures allowed per (username, address) and per
    # address over all names before each further attempt waits, the first wait (doubling
    # with each further failure, up to the cap), and how long failures are remembered.
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_address_max_failures: int = Field(default=50, ge=1, le=100_000)
    login_delay_seconds: int = Field(default=30, ge=1, le=86_400)
    login_max_delay_seconds: int = Field(default=900, ge=1, le=7 * 86_400)
    login_window_seconds: int = Field(default=86_400, ge=10, le=30 * 86_400)
    # Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For /
    # Forwarded / X-Forwarded-Proto headers the console believes; nobody else's.
    trusted_proxies: str = ""
    # Comma-separated Origins allowed to open the live view's WebSocket.
    console_origins: str = ""
    # Bearer secret an HTTP-calling broker (EMQX) sends to /api/v1/mqtt/auth and /acl.
    broker_auth_secret: SecretStr = SecretStr("")
    console_pool_size: int = Field(default=10, ge=1, le=200)
    # Live view (/ws): messages pending per client before it is disconnected as too slow.
    console_ws_queue_limit: int = Field(default=2000, ge=10, le=1_000_000)

    # Alerts (docs/alerts.md): dispatch to agencies, analytics catch-up, the operators' day.
    dispatch_webhook_url: str | None = None
    dispatch_timeout_s: float = Field(default=5.0, gt=0, le=120)
    dispatch_max_attempts: int = Field(default=8, ge=1, le=100)
    dispatch_backoff_s: float = Field(default=2.0, gt=0, le=3600)
    dispatch_backoff_max_s: float = Field(default=300.0, gt=0, le=86_400)
    dispatch_poll_s: float = Field(default=0.5, gt=0, le=60)
    analytics_catchup_s: int = Field(default=600, ge=0, le=7 * 86_400)
    # The analytics service's Prometheus /metrics (analytics/metrics.py); 0 picks a free port.
    # Below ingest's 9108, which `cityhub ingest --workers N` counts upwards from.
    analytics_metrics_port: int = Field(default=9107, ge=0, le=65535)
    analytics_metrics_host: str = "127.0.0.1"
    ops_timezone: str = "Asia/Seoul"
    handover_hours: int = Field(default=8, ge=1, le=48)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment is read by load_settings() from the mapping it is given.
        return (init_settings,)

    @field_validator("database_url", "replica_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (e.g. postgresql://user@host:5432/cityhub)")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError("must look like mqtt://user:password@host:1883")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{item.strip()!r} is not an address or CIDR "
                                     "(e.g. 10.0.0.5, 10.0.0.0/24, ::1)") from None
        return value

    @field_validator("ops_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (use a name such as Asia/Seoul)") from None
        return value

    def mqtt_target(self) -> MqttTarget:
        if self.mqtt_url is None:
            raise ConfigError("CITYHUB_MQTT_URL is not set; give mqtt://user:password@host:port.")
        parts = urlsplit(self.mqtt_url)
        return MqttTarget(
            host=parts.hostname or "localhost",
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def require_database(self) -> str:
        if self.database_url is None:
            raise ConfigError(
                "CITYHUB_DATABASE_URL is not set; give postgresql://user@host:5432/db, "
                "or run `cityhub up`, which starts an embedded database."
            )
        return self.database_url

    def require_service_secret(self) -> None:
        """Refuse to run a service on an empty, example or guessable secret outside demo mode."""
        if self.demo:
            return
        problem = secret_key_problem(self.secret_key.get_secret_value())
        if problem is not None:
            raise ConfigError(
                f"CITYHUB_SECRET_KEY {problem}. Set it to a random value, e.g. "
                f"`{GENERATE_SECRET}`; only `cityhub up` (demo mode) runs without one."
            )

    def device_token_keys(self) -> TokenKeys | None:
        """The keys device tokens are hashed under; None when CITYHUB_DEVICE_TOKEN_KEY is unset."""
        key = self.device_token_key.get_secret_value()
        if not key:
            return None
        return parse_keys(key, self.device_token_old_keys.get_secret_value())

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.trusted_proxies.split(",") if item.strip())

    @property
    def console_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.console_origins.split(",") if o.strip())

    @property
    def key_file(self) -> Path:
        return self.pseudonym_key_file or self.state_dir / "pseudonym-keys.json"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``CITYHUB_*`` variables of *environ* (default: the process's)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        key[len(PREFIX) :].lower(): value for key, value in env.items() if key.startswith(PREFIX)
    }
    values.update(overrides)
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{PREFIX}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid configuration: {problems}.") from exc
