"""What every session shares: passed down explicitly, built once by the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings
from ..store import Store
from ..team.builder import TeamFactory
from ..tools.mcp_config import McpServerSpec
from ..tools.registry import ReminderWaker, ToolRegistry
from .accounts import Accounts
from .admission import TurnGate
from .cluster import Coordinator
from .hub import EventHub
from .mcp_catalog import McpCatalog
from .stats import UsageStats


@dataclass
class SessionCounters:
    """Failures in sessions' background work (logged with their traceback, counted for /healthz)."""

    compaction_errors: int = 0
    #: uploads that could not be copied into the session's running sandbox (sessions/uploads.py)
    upload_copy_errors: int = 0
    #: deleted sessions whose upload folder could not be removed
    upload_removal_errors: int = 0


@dataclass
class Services:
    settings: Settings
    store: Store
    hub: EventHub
    factory: TeamFactory
    tools: ToolRegistry
    cluster: Coordinator
    sandbox: Any = None  # backend.sandbox.SandboxManager | None
    reminders: ReminderWaker | None = None
    workflows: Any = None  # backend.workflows.WorkflowEngine | None
    counters: SessionCounters = field(default_factory=SessionCounters)
    #: the model name turns are counted under in the usage records (``/v1/stats``)
    model_name: str = ""
    stats: UsageStats = field(init=False)
    #: API keys, users, login tokens, the audit log
    accounts: Accounts = field(init=False)
    #: backend.sessions.otel.OtelExport when OTEL_EXPORTER_OTLP_ENDPOINT is set
    otel: Any = None
    #: the MCP tool servers (team file, MCP_SERVERS, MCP_URL) and the tools they offer
    mcp: McpCatalog = field(init=False)
    #: admission of turn starts, process-wide (TURN_START_CONCURRENCY)
    turn_gate: TurnGate = field(init=False)

    def configure_mcp(self, servers: list[McpServerSpec]) -> None:
        self.mcp = McpCatalog(servers, self.settings)

    def __post_init__(self) -> None:
        self.stats = UsageStats(self.store, self.settings.model_prices, self.model_name)
        self.accounts = Accounts(self.store, self.settings)
        self.mcp = McpCatalog(list(self.factory.spec.mcp_servers), self.settings)
        self.turn_gate = TurnGate(self.settings.turn_start_concurrency)
