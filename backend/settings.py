"""Settings: read once from an environment mapping (plus an optional ``.env``), validated, passed down.

Nothing in the code base reads ``os.environ`` except :func:`load_settings`, which is called once by
the entry point. Tests build settings from a plain dict with :meth:`Settings.from_env`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import SettingsError

logger = logging.getLogger(__name__)

OPENROUTER_DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
OPENROUTER_DEFAULT_MODEL = "moonshotai/kimi-k2.5"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4.1-mini"
LOCAL_DEFAULT_MODEL = "deepseek-local"
EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SYSTEM_PROMPT_FILE = PACKAGE_DIR / "config" / "system_prompt.txt"
DEFAULT_STATIC_DIR = PACKAGE_DIR.parent / "frontend"


OUTPUT_CHARS_PER_TOKEN = 250
MIN_AUTH_TOKEN_LENGTH = 16
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "*")  # noqa: S104 - names to recognise, not to bind
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class ModelPrice(BaseModel):
    """US dollars per million tokens (``MODEL_PRICES``); local models cost nothing unless listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)


def _prices(value: Any) -> Any:
    """``MODEL_PRICES`` as JSON: ``{"model": {"input": 0.15, "output": 0.6}}`` or ``{"model": [0.15, 0.6]}``."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"MODEL_PRICES must be JSON ({exc})") from None
    if isinstance(value, dict):
        return {
            str(k): {"input": v[0], "output": v[1]} if isinstance(v, list | tuple) and len(v) == 2 else v
            for k, v in value.items()
        }
    return value


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseModel):
    """Every setting the server has. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    # --- server -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8765, alias="PORT", ge=0, le=65535)
    data_dir: Path = Field(Path("./data"), alias="DATA_DIR")
    static_dir: Path = Field(DEFAULT_STATIC_DIR, alias="STATIC_DIR")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    max_message_bytes: int = Field(64 * 1024, alias="MAX_MESSAGE_BYTES", ge=1024, le=16 * 1024 * 1024)
    ping_interval: float = Field(20.0, alias="PING_INTERVAL", gt=0)
    ping_timeout: float = Field(20.0, alias="PING_TIMEOUT", gt=0)
    allowed_origins: tuple[str, ...] = Field((), alias="ALLOWED_ORIGINS")
    auth_token: str | None = Field(None, alias="AUTH_TOKEN")
    #: none | token | keys (default: token when AUTH_TOKEN is set, none otherwise)
    auth_mode: Literal["none", "token", "keys"] | None = Field(None, alias="AUTH_MODE")
    #: let AUTH_MODE=none listen beyond loopback (a loud warning at start-up)
    allow_insecure: bool = Field(False, alias="ALLOW_INSECURE")
    #: HS256 secret for login tokens; unset: DATA_DIR/auth_secret, created once (share it in a cluster)
    auth_secret: str | None = Field(None, alias="AUTH_SECRET")
    #: seconds a login token (and its cookie) lives
    auth_session_seconds: int = Field(12 * 3600, alias="AUTH_SESSION_SECONDS", ge=60, le=30 * 24 * 3600)
    #: API requests one key or user may make per minute, per process (AUTH_MODE=keys; 0: no limit)
    caller_requests_per_minute: int = Field(600, alias="CALLER_REQUESTS_PER_MINUTE", ge=0)
    #: model tokens one key or user may spend per UTC day before new turns get 429 (0: no limit)
    caller_tokens_per_day: int = Field(0, alias="CALLER_TOKENS_PER_DAY", ge=0)
    #: days audit rows are kept
    audit_retention_days: int = Field(90, alias="AUDIT_RETENTION_DAYS", ge=1)
    rate_limit_messages: int = Field(30, alias="RATE_LIMIT_MESSAGES", ge=1)
    rate_limit_window: float = Field(10.0, alias="RATE_LIMIT_WINDOW", gt=0)
    rate_limit_strikes: int = Field(3, alias="RATE_LIMIT_STRIKES", ge=1)
    # --- the network edge (server/edge.py) ------------------------------------------------------
    allowed_hosts: tuple[str, ...] = Field((), alias="ALLOWED_HOSTS")
    forwarded_allow_ips: tuple[str, ...] = Field((), alias="FORWARDED_ALLOW_IPS")
    max_connections: int = Field(1024, alias="MAX_CONNECTIONS", ge=1)
    auth_timeout: float = Field(10.0, alias="AUTH_TIMEOUT", gt=0)
    handshake_timeout: float = Field(10.0, alias="HANDSHAKE_TIMEOUT", gt=0)
    auth_fail_limit: int = Field(10, alias="AUTH_FAIL_LIMIT", ge=1)
    auth_fail_window: float = Field(60.0, alias="AUTH_FAIL_WINDOW", gt=0)
    max_body_bytes: int = Field(1024 * 1024, alias="MAX_BODY_BYTES", ge=1024)
    max_queued_messages: int = Field(20, alias="MAX_QUEUED_MESSAGES", ge=1)
    #: turns of this process that may be starting at once (team build or restore, up to the first
    #: model request); the rest wait their turn in arrival order (sessions/admission.py; 0: no limit)
    turn_start_concurrency: int = Field(2, alias="TURN_START_CONCURRENCY", ge=0, le=10_000)
    session_idle_seconds: float = Field(600.0, alias="SESSION_IDLE_SECONDS", gt=0)
    stop_watchdog_seconds: float = Field(5.0, alias="STOP_WATCHDOG_SECONDS", gt=0)
    db_synchronous: Literal["OFF", "NORMAL", "FULL"] = Field("NORMAL", alias="DB_SYNCHRONOUS")
    #: ``postgresql://...``: use PostgreSQL (several processes can share it); unset: SQLite in DATA_DIR.
    database_url: str | None = Field(None, alias="DATABASE_URL")
    #: Seconds a session's owner holds its lease without renewing it (takeover after a crash).
    lease_seconds: float = Field(10.0, alias="LEASE_SECONDS", ge=1.0)
    #: This process's id in leases, logs, /healthz and ``done`` events (default: host-pid-random).
    instance_id: str | None = Field(None, alias="INSTANCE_ID")

    # --- model endpoint (see resolve_endpoint for the precedence) -----------------------------
    llm_base_url: str | None = Field(None, alias="LLM_BASE_URL")
    llm_api_key: str | None = Field(None, alias="LLM_API_KEY")
    llm_model: str | None = Field(None, alias="LLM_MODEL")
    openrouter_api_key: str | None = Field(None, alias="OPENROUTER_API_KEY")
    openrouter_base_url: str = Field(OPENROUTER_DEFAULT_BASE_URL, alias="OPENROUTER_BASE_URL")
    model_name: str | None = Field(None, alias="MODEL_NAME")
    openai_api_key: str | None = Field(None, alias="OPENAI_API_KEY")
    openai_key: str | None = Field(None, alias="OPENAI_KEY")
    openai_base_url: str = Field(OPENAI_DEFAULT_BASE_URL, alias="OPENAI_BASE_URL")
    local_model_base_url: str | None = Field(None, alias="LOCAL_MODEL_BASE_URL")
    local_model_name: str | None = Field(None, alias="LOCAL_MODEL_NAME")
    llm_function_calling: bool | None = Field(None, alias="LLM_FUNCTION_CALLING")
    llm_vision: bool | None = Field(None, alias="LLM_VISION")
    llm_json_output: bool | None = Field(None, alias="LLM_JSON_OUTPUT")
    llm_structured_output: bool | None = Field(None, alias="LLM_STRUCTURED_OUTPUT")
    llm_family: str | None = Field(None, alias="LLM_FAMILY")
    llm_include_name: bool = Field(False, alias="LLM_INCLUDE_NAME")
    llm_timeout: float = Field(120.0, alias="LLM_TIMEOUT", gt=0)
    llm_max_retries: int = Field(1, alias="LLM_MAX_RETRIES", ge=0, le=10)
    llm_temperature: float | None = Field(None, alias="LLM_TEMPERATURE", ge=0, le=2)

    # --- embedded model -------------------------------------------------------------------------
    llm_embedded: bool = Field(True, alias="LLM_EMBEDDED")
    llm_embedded_model: Path | None = Field(None, alias="LLM_EMBEDDED_MODEL")
    llm_embedded_chat_format: str | None = Field(None, alias="LLM_EMBEDDED_CHAT_FORMAT")
    llm_embedded_threads: int | None = Field(None, alias="LLM_EMBEDDED_THREADS", ge=1)
    llm_embedded_startup_timeout: float = Field(120.0, alias="LLM_EMBEDDED_STARTUP_TIMEOUT", gt=0)

    # --- agents -------------------------------------------------------------------------------
    system_prompt: str | None = Field(None, alias="SYSTEM_PROMPT")
    agent_system_prompt: str | None = Field(None, alias="AGENT_SYSTEM_PROMPT")
    team: str | None = Field(None, alias="TEAM")
    max_team_messages: int = Field(12, alias="MAX_TEAM_MESSAGES", ge=2)

    # --- context budget ---------------------------------------------------------------------------
    context_budget: int = Field(4096, alias="CONTEXT_BUDGET", ge=512, le=1_000_000)
    context_reserve: int = Field(512, alias="CONTEXT_RESERVE", ge=16)
    context_safety_margin: float = Field(0.10, alias="CONTEXT_SAFETY_MARGIN", ge=0, le=0.9)
    context_tokenizer: Literal["tiktoken", "server"] = Field("tiktoken", alias="CONTEXT_TOKENIZER")
    context_summary_ratio: float = Field(0.25, alias="CONTEXT_SUMMARY_RATIO", gt=0, le=0.5)
    context_recent_messages: int = Field(4, alias="CONTEXT_RECENT_MESSAGES", ge=1)

    # --- tools --------------------------------------------------------------------------------
    #: where the terminal and file tools work; default DATA_DIR/workspace (never the server's own folder)
    agent_workdir: Path = Field(None, alias="AGENT_WORKDIR")  # type: ignore[assignment]  # set by _workdir
    #: let AGENT_WORKDIR contain the data dir, the .env file or the server's code (not recommended)
    allow_unsafe_workdir: bool = Field(False, alias="ALLOW_UNSAFE_WORKDIR")
    terminal_timeout: float = Field(30.0, alias="TERMINAL_TIMEOUT", gt=0)
    terminal_output_limit: int = Field(16 * 1024, alias="TERMINAL_OUTPUT_LIMIT", ge=256)
    terminal_backend: Literal["host", "sandbox"] = Field("host", alias="TERMINAL_BACKEND")
    #: bwrap: every host command confined by bubblewrap (the skill is disabled when it cannot be);
    #: none: unconfined, only the argument policy (a loud warning at start-up)
    terminal_confinement: Literal["bwrap", "none"] = Field("bwrap", alias="TERMINAL_CONFINEMENT")
    #: seconds a question waits for the user before the tool gives up (the question event says when);
    #: without a limit one unanswered question would block the session's queue forever
    #: characters of SSE chunk data one model call may stream (0: derived from CONTEXT_RESERVE)
    model_output_limit: int = Field(0, alias="MODEL_OUTPUT_LIMIT", ge=0)
    question_timeout: float | None = Field(600.0, alias="QUESTION_TIMEOUT", gt=0)
    #: which tool calls ask the user first: never | risky | always (docs/configuration.md)
    approval_policy: Literal["never", "risky", "always"] = Field("risky", alias="APPROVAL_POLICY")
    #: seconds an approval waits for a decision; then it is a deny
    approval_timeout: float = Field(600.0, alias="APPROVAL_TIMEOUT", gt=0)
    default_timezone: str | None = Field(None, alias="DEFAULT_TIMEZONE")

    # --- file uploads (POST /v1/sessions/{id}/files) -------------------------------------------
    #: largest file one upload may carry (the request body may be this plus 64 KiB of multipart framing)
    upload_max_bytes: int = Field(10 * 1024 * 1024, alias="UPLOAD_MAX_BYTES", ge=1, le=1024**3)
    #: files one session may hold
    upload_max_files: int = Field(50, alias="UPLOAD_MAX_FILES", ge=1, le=10_000)
    #: tokens of a text upload's beginning the team reads with its reference (0: the reference only)
    upload_excerpt_tokens: int = Field(200, alias="UPLOAD_EXCERPT_TOKENS", ge=0, le=4096)

    # --- session export and import (GET /v1/sessions/{id}/export, POST /v1/sessions/import) -----
    #: largest export document an import may carry (bigger is 413)
    import_max_bytes: int = Field(20 * 1024 * 1024, alias="IMPORT_MAX_BYTES", ge=1024, le=1024**3)
    #: tokens of the imported conversation (summary + latest messages) the new session's first turn carries
    import_context_tokens: int = Field(1024, alias="IMPORT_CONTEXT_TOKENS", ge=0, le=1_000_000)

    # --- sandbox --------------------------------------------------------------------------------
    sandbox_enabled: bool = Field(True, alias="SANDBOX_ENABLED")
    sandbox_image: str = Field("agent-sandbox:latest", alias="SANDBOX_IMAGE")
    sandbox_network: str = Field("none", alias="SANDBOX_NETWORK")
    sandbox_runtime: str | None = Field(None, alias="SANDBOX_RUNTIME")
    sandbox_memory: str = Field("512m", alias="SANDBOX_MEMORY")
    sandbox_cpus: float = Field(1.0, alias="SANDBOX_CPUS", gt=0)
    sandbox_pids: int = Field(128, alias="SANDBOX_PIDS", ge=8)
    sandbox_timeout: float = Field(30.0, alias="SANDBOX_TIMEOUT", gt=0)
    sandbox_idle_seconds: float = Field(600.0, alias="SANDBOX_IDLE_SECONDS", gt=0)
    sandbox_output_limit: int = Field(16 * 1024, alias="SANDBOX_OUTPUT_LIMIT", ge=256)
    sandbox_tmpfs_size: str = Field("64m", alias="SANDBOX_TMPFS_SIZE")
    #: /dev/shm inside a sandbox (a private tmpfs that counts against the host's memory)
    sandbox_shm_size: str = Field("16m", alias="SANDBOX_SHM_SIZE")
    #: containers this process runs at once (each may use SANDBOX_MEMORY): beyond it a clear error
    sandbox_max_containers: int = Field(16, alias="SANDBOX_MAX_CONTAINERS", ge=1)
    sandbox_user: str = Field("1000:1000", alias="SANDBOX_USER")
    sandbox_docker_host: str | None = Field(None, alias="DOCKER_HOST")

    # --- MCP tool servers -------------------------------------------------------------------------
    #: a JSON list of MCP servers, or a path to a JSON file (docs/configuration.md, "MCP")
    mcp_servers: str | None = Field(None, alias="MCP_SERVERS")
    #: one streamable-HTTP MCP server (the earlier streaming agent's setting), named "mcp"
    mcp_url: str | None = Field(None, alias="MCP_URL")
    #: characters of an MCP tool's result the model gets (the rest is cut, with a note)
    mcp_output_limit: int = Field(16 * 1024, alias="MCP_OUTPUT_LIMIT", ge=256)

    # --- observability ----------------------------------------------------------------------------
    #: OTLP/HTTP base URL (the standard variable): turn spans are exported there when set
    otel_endpoint: str | None = Field(None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")

    # --- usage ----------------------------------------------------------------------------------
    model_prices: dict[str, ModelPrice] = Field(default_factory=dict, alias="MODEL_PRICES")

    # --- workflows ------------------------------------------------------------------------------
    workflows_dir: Path | None = Field(None, alias="WORKFLOWS_DIR")
    workflow_max_steps: int = Field(100, alias="WORKFLOW_MAX_STEPS", ge=1, le=100_000)
    workflow_max_nodes: int = Field(500, alias="WORKFLOW_MAX_NODES", ge=2, le=10_000)
    workflow_lease_seconds: float = Field(30.0, alias="WORKFLOW_LEASE_SECONDS", gt=0)
    workflow_http_timeout: float = Field(15.0, alias="WORKFLOW_HTTP_TIMEOUT", gt=0)
    workflow_output_limit: int = Field(64 * 1024, alias="WORKFLOW_OUTPUT_LIMIT", ge=1024)

    _model_prices = field_validator("model_prices", mode="before")(_prices)
    _csv_origins = field_validator("allowed_origins", "allowed_hosts", "forwarded_allow_ips", mode="before")(_csv)

    @field_validator("auth_token")
    @classmethod
    def _token_length(cls, value: str | None) -> str | None:
        if value and len(value) < MIN_AUTH_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_AUTH_TOKEN_LENGTH} characters (got {len(value)}); "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return value or None

    @field_validator("auth_secret")
    @classmethod
    def _secret_length(cls, value: str | None) -> str | None:
        if value and len(value) < 32:
            raise ValueError(
                "must be at least 32 characters (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value or None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}")
        return upper

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value or None

    @field_validator("llm_base_url", "openrouter_base_url", "openai_base_url", "local_model_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value or None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql:// URL (leave DATABASE_URL unset for SQLite)")
        return value or None

    @model_validator(mode="after")
    def _workdir(self) -> Settings:
        if self.agent_workdir is None:
            object.__setattr__(self, "agent_workdir", self.data_dir / "workspace")
        return self

    @model_validator(mode="after")
    def _reserve_fits(self) -> Settings:
        if self.context_reserve >= self.context_budget // 2:
            raise ValueError(
                f"CONTEXT_RESERVE ({self.context_reserve}) must be less than half of CONTEXT_BUDGET "
                f"({self.context_budget})"
            )
        return self

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of environment variables; raise SettingsError naming the bad one."""
        cleaned = {key: value for key, value in env.items() if value is not None and value != ""}
        try:
            return cls.model_validate(cleaned)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                name = ".".join(str(part) for part in error["loc"]) or "settings"
                field = cls.model_fields.get(name)
                alias = field.alias if field is not None and field.alias else name
                raw = cleaned.get(alias, "<unset>")
                if any(word in alias for word in ("TOKEN", "KEY", "SECRET", "PASSWORD")) and alias in cleaned:
                    raw = "<redacted>"
                problems.append(f"{alias}={raw!r}: {error['msg']}")
            raise SettingsError("invalid configuration: " + "; ".join(problems)) from None

    @property
    def effective_auth_mode(self) -> str:
        """AUTH_MODE, or its default: ``token`` when AUTH_TOKEN is set, ``none`` otherwise."""
        return self.auth_mode or ("token" if self.auth_token else "none")

    @property
    def effective_allowed_hosts(self) -> tuple[str, ...]:
        """ALLOWED_HOSTS, or the loopback names plus HOST when it is not a wildcard (lower case)."""
        if self.allowed_hosts:
            return tuple(h.lower() for h in self.allowed_hosts)
        hosts = list(LOOPBACK_HOSTS)
        host = self.host.strip().lower()
        if host not in WILDCARD_HOSTS:
            hosts.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
        return tuple(dict.fromkeys(hosts))

    @property
    def resolved_model_output_limit(self) -> int:
        """MODEL_OUTPUT_LIMIT, or four times what max_tokens (CONTEXT_RESERVE) allows at 250 characters of
        SSE chunk data per token (one token of text rides in ~150-250 characters of JSON envelope)."""
        return self.model_output_limit or OUTPUT_CHARS_PER_TOKEN * self.context_reserve * 4

    @property
    def db_path(self) -> Path:
        return self.data_dir / "agentchat.db"

    @property
    def resolved_workflows_dir(self) -> Path:
        return self.workflows_dir if self.workflows_dir is not None else self.data_dir / "workflows"

    @property
    def endpoint(self) -> Endpoint | None:
        return resolve_endpoint(self)

    def resolved_system_prompt(self) -> str:
        """SYSTEM_PROMPT, else AGENT_SYSTEM_PROMPT, else backend/config/system_prompt.txt."""
        if self.system_prompt:
            return self.system_prompt
        if self.agent_system_prompt:
            return self.agent_system_prompt
        return DEFAULT_SYSTEM_PROMPT_FILE.read_text(encoding="utf-8").strip()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An OpenAI-compatible model endpoint: where, which model, and which configuration named it."""

    base_url: str
    model: str
    api_key: str
    source: str  # which variables selected it: "LLM_BASE_URL", "OPENROUTER_API_KEY", ... or "embedded"

    @property
    def is_local(self) -> bool:
        return self.base_url.startswith(("http://127.", "http://localhost", "http://[::1]"))


def local_gateway_base(url: str) -> str:
    """``LOCAL_MODEL_BASE_URL`` as the local gateway's users wrote it: host and port only
    (``http://127.0.0.1:8000``) means the server's ``/v1`` API; a URL with a path is taken as given."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "/v1", parts.query, parts.fragment))
    return url


def resolve_endpoint(settings: Settings) -> Endpoint | None:
    """Pick the model endpoint. The first rule that matches wins:

    1. ``LLM_BASE_URL`` (with ``LLM_MODEL``, ``LLM_API_KEY``), or ``LLM_API_KEY`` alone (OpenAI's URL);
    2. ``OPENROUTER_API_KEY`` (+ ``OPENROUTER_BASE_URL``, model ``MODEL_NAME`` or kimi-k2.5);
    3. ``OPENAI_API_KEY`` or ``OPENAI_KEY`` (+ ``OPENAI_BASE_URL``, model ``MODEL_NAME``);
    4. ``LOCAL_MODEL_BASE_URL`` (+ ``LOCAL_MODEL_NAME``);
    5. none: the caller starts the embedded model (unless ``LLM_EMBEDDED=0``).

    ``LLM_MODEL`` overrides the model name for every rule.
    """
    s = settings
    if s.llm_base_url or s.llm_api_key:
        return Endpoint(
            base_url=s.llm_base_url or OPENAI_DEFAULT_BASE_URL,
            model=s.llm_model or s.model_name or OPENAI_DEFAULT_MODEL,
            api_key=s.llm_api_key or "not-needed",
            source="LLM_BASE_URL" if s.llm_base_url else "LLM_API_KEY",
        )
    if s.openrouter_api_key:
        return Endpoint(
            base_url=s.openrouter_base_url,
            model=s.llm_model or s.model_name or OPENROUTER_DEFAULT_MODEL,
            api_key=s.openrouter_api_key,
            source="OPENROUTER_API_KEY",
        )
    openai_key = s.openai_api_key or s.openai_key
    if openai_key:
        return Endpoint(
            base_url=s.openai_base_url,
            model=s.llm_model or s.model_name or OPENAI_DEFAULT_MODEL,
            api_key=openai_key,
            source="OPENAI_API_KEY" if s.openai_api_key else "OPENAI_KEY",
        )
    if s.local_model_base_url:
        return Endpoint(
            base_url=local_gateway_base(s.local_model_base_url),
            model=s.llm_model or s.local_model_name or LOCAL_DEFAULT_MODEL,
            api_key="not-needed",
            source="LOCAL_MODEL_BASE_URL",
        )
    return None


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Entry-point helper: ``.env`` values first, then the real environment on top of them."""
    merged: dict[str, str] = {}
    path = dotenv_path if dotenv_path is not None else Path(".env")
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return Settings.from_env(merged)
