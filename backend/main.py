"""Composition root and lifecycle: build every component once, start them in order, stop them in reverse.

``python -m backend`` runs :func:`main`. Tests use :func:`start_app` / :meth:`Runtime.stop` to run a
real server on port 0 inside their event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import json
import logging
import os
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .context.tokens import ServerTokenizer, TokenCounter, calibrate_margin, seed_tiktoken_cache
from .errors import AgentChatError, SettingsError
from .identity.principal import AuthMode, is_loopback_host, startup_problem
from .llm.client import build_model_client, warm_up_parsers
from .llm.oneshot import OneShotModel
from .logs import configure_logging, install_filters
from .loopmon import LoopLagMonitor
from .scheduler import ReminderScheduler
from .server.app import App
from .sessions.cluster import Coordinator, new_instance_id
from .sessions.hub import EventHub
from .sessions.metrics import SessionMetrics
from .sessions.registry import SessionRegistry
from .sessions.services import Services
from .sessions.uploads import sandbox_files
from .sessions.workflow_host import SessionWorkflowHost
from .settings import Endpoint, Settings, load_settings, resolve_endpoint
from .store import ReminderRow, Store, Tx, open_database
from .team.builder import TeamFactory
from .team.spec import load_team_spec
from .timeparse import warm_up
from .tools import default_registry
from .tools.mcp_config import from_environment, merge
from .tools.workdir import prepare_workdir
from .workflows import WorkflowEngine

logger = logging.getLogger(__name__)

#: Target for the open-file limit when the hard limit is unlimited.
FILE_LIMIT_CAP = 1 << 20

EMBEDDED_WARNING = (
    "No model endpoint is configured, so the embedded SmolLM2-135M model is used. It is tiny: expect "
    "short, often wrong answers and no reliable tool use. Set LLM_BASE_URL (or OPENROUTER_API_KEY, "
    "OPENAI_API_KEY, LOCAL_MODEL_BASE_URL) for a real model, or LLM_EMBEDDED_MODEL for a bigger GGUF."
)


@dataclass
class Runtime:
    """Everything started by :func:`start_app`, in start order."""

    settings: Settings
    store: Store
    app: App
    sessions: SessionRegistry
    scheduler: ReminderScheduler
    model_client: Any
    sandbox: Any = None
    embedded: Any = None
    loop_lag: LoopLagMonitor | None = None
    workflows: WorkflowEngine | None = None
    _stopped: bool = field(default=False, repr=False)

    async def stop(self) -> None:
        """Graceful shutdown: no new connections, running turns cancelled and recorded, all closed."""
        if self._stopped:
            return
        self._stopped = True
        await self.app.stop()
        if self.loop_lag is not None:
            await self.loop_lag.stop()
        if self.workflows is not None:
            await self.workflows.close()
        await self.scheduler.stop()
        await self.sessions.close()
        await self.sessions.services.cluster.stop()
        if self.sandbox is not None:
            with contextlib.suppress(Exception):
                await self.sandbox.close()
        with contextlib.suppress(Exception):
            await self.model_client.close()
        if self.embedded is not None:
            await self.embedded.stop()
        otel = self.sessions.services.otel
        if otel is not None:
            await asyncio.to_thread(otel.shutdown)  # flushes what is queued
        await self.store.close()
        gc.unfreeze()
        logger.info("stopped")


async def _endpoint(settings: Settings) -> tuple[Endpoint, Any]:
    endpoint = resolve_endpoint(settings)
    if endpoint is not None:
        return endpoint, None
    if not settings.llm_embedded:
        raise SettingsError(
            "no model endpoint: set LLM_BASE_URL (or OPENROUTER_API_KEY, OPENAI_API_KEY, LOCAL_MODEL_BASE_URL), "
            "or allow the embedded model (LLM_EMBEDDED=1)"
        )
    from .llm.embedded import EmbeddedModel

    logger.warning(EMBEDDED_WARNING)
    embedded = EmbeddedModel(settings)
    return await embedded.start(), embedded


#: Text the server's tokenizer is compared on; the margin covers the worst of them.
CALIBRATION_SAMPLES = (
    "Summary of the conversation so far: the user asked for a weekly plan, then for a function that "
    "parses ISO dates, and we discussed time zones, leap years and what to do with invalid input.",
    "```python\ndef parse(value: str) -> datetime:\n    try:\n        return datetime.fromisoformat(value)\n"
    "    except ValueError as exc:\n        raise ToolError(f'bad date {value!r}') from exc\n```",
    "用户问了明天上午九点的会议安排，还想把提醒设置在会议开始前十分钟，并把待办事项同步到日历。",  # noqa: RUF001
)


async def _safety_margin(settings: Settings, endpoint: Endpoint, counter: TokenCounter) -> float:
    """CONTEXT_TOKENIZER=server: widen the margin by how much the server's tokenizer out-counts
    cl100k on the worst of a few kinds of text (prose, code, Chinese)."""
    if settings.context_tokenizer != "server":
        return settings.context_safety_margin
    tokenizer = ServerTokenizer(endpoint.base_url)
    margins = [
        await calibrate_margin(counter, tokenizer, [sample], base_margin=settings.context_safety_margin)
        for sample in (settings.resolved_system_prompt(), *CALIBRATION_SAMPLES)
    ]
    margin = max(margins)
    logger.info("context safety margin %.2f (calibrated against %s)", margin, tokenizer.url)
    return margin


#: Margin over an exact count with the model's own tokenizer (the chat template's few tokens per
#: message are covered by counting each message's JSON, which the template does not send).
EXACT_COUNT_MARGIN = 0.02


async def _counting(
    settings: Settings, endpoint: Endpoint, embedded: Any, counter: TokenCounter
) -> tuple[TokenCounter, float]:
    """How requests are counted: with the embedded model's own tokenizer when CONTEXT_TOKENIZER=server
    (exact for every script), else cl100k with a margin (calibrated against a server's tokenizer)."""
    if embedded is None or settings.context_tokenizer != "server":
        return counter, await _safety_margin(settings, endpoint, counter)
    from .llm.gguf_tokens import GgufEncoding

    encoding = await asyncio.to_thread(GgufEncoding, embedded.model_path)
    explicit = "context_safety_margin" in settings.model_fields_set
    margin = settings.context_safety_margin if explicit else EXACT_COUNT_MARGIN
    logger.info("context counted with the embedded model's own tokenizer (%s), margin %.2f", encoding.name, margin)
    return TokenCounter(encoding, include_name=settings.llm_include_name), margin


def _with_embedded_defaults(settings: Settings) -> Settings:
    """The embedded model is tiny: the one-agent team unless TEAM says otherwise, and the context
    budget calibrated against its own tokenizer (SmolLM2 spends up to 1.6x cl100k's tokens on CJK
    and code; see docs/embedded-model.md) unless CONTEXT_TOKENIZER is set."""
    if resolve_endpoint(settings) is not None or not settings.llm_embedded:
        return settings
    update: dict[str, Any] = {}
    if settings.team is None:
        update["team"] = "solo"
    if "context_tokenizer" not in settings.model_fields_set:
        update["context_tokenizer"] = "server"
    return settings.model_copy(update=update)


def check_data_dir(path: Path) -> None:
    """One clear line (not a traceback) when DATA_DIR is read-only, full or not a directory."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        try:
            probe.write_bytes(b"\0" * 65536)
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"DATA_DIR={path} cannot be written ({exc.strerror or exc}): free some space, fix its "
            "permissions, or point DATA_DIR elsewhere"
        ) from None


async def start_app(settings: Settings) -> Runtime:
    install_filters(debug=settings.log_level == "DEBUG")
    settings = _with_embedded_defaults(settings)
    check_auth(settings)
    check_data_dir(settings.data_dir)
    prepare_workdir(settings)
    spec = load_team_spec(settings.team)  # fail fast on a bad TEAM before starting anything
    store = Store(open_database(settings.database_url, settings.db_path, synchronous=settings.db_synchronous))
    await store.open()
    store.db.start_checkpointing()
    seed_tiktoken_cache()
    counter = await asyncio.to_thread(functools.partial(TokenCounter.load, include_name=settings.llm_include_name))
    endpoint, embedded = await _endpoint(settings)
    try:
        counter, margin = await _counting(settings, endpoint, embedded, counter)
        model_client = build_model_client(endpoint, settings)
        tools = default_registry()
        factory = TeamFactory(
            spec=spec,
            registry=tools,
            model_client=model_client,
            settings=settings,
            counter=counter,
            safety_margin=margin,
        )
        instance = settings.instance_id or new_instance_id()
        sandbox = None
        if settings.sandbox_enabled:
            from .sandbox import SandboxManager

            sandbox = SandboxManager(
                settings,
                instance_id=instance,
                # a cluster shares one namespace: survivors clean up a dead process's containers
                namespace=hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
                if settings.database_url
                else None,
                live_instances=store.leases.live_owners if store.shared else None,
                uploads=functools.partial(sandbox_files, settings.data_dir),
            )
            await sandbox.start()
        cluster = Coordinator(store, instance_id=instance, lease_seconds=settings.lease_seconds)
        metrics = SessionMetrics(model=endpoint.model)
        hub = EventHub(store, owner=instance, observer=metrics)
        services = Services(
            settings=settings,
            store=store,
            hub=hub,
            factory=factory,
            tools=tools,
            cluster=cluster,
            sandbox=sandbox,
            model_name=endpoint.model,
        )
        try:
            mcp_servers = merge(list(spec.mcp_servers), from_environment(settings.mcp_servers, settings.mcp_url))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        services.configure_mcp(mcp_servers)
        if settings.otel_endpoint:
            from .sessions.otel import OtelExport  # imported only when configured

            # AutoGen's own runtime spans stay off unless the operator asks for them
            os.environ.setdefault("AUTOGEN_DISABLE_RUNTIME_TRACING", "true")
            services.otel = OtelExport(settings.otel_endpoint, team=spec.name, instance=instance)
        sessions = SessionRegistry(services)
        cluster.start(sessions)
        await cluster.wait_listening()
        workflows = WorkflowEngine(
            store=store,
            settings=settings,
            host=SessionWorkflowHost(sessions),
            model=OneShotModel(model_client, counter, settings, margin),
            tools=tools,
            sandbox=sandbox,
        )
        services.workflows = workflows
        scheduler = ReminderScheduler(store, _reminder_hook(sessions))
        services.reminders = scheduler
        loop_lag = LoopLagMonitor()
        app = App(
            settings=settings,
            store=store,
            hub=hub,
            sessions=sessions,
            tools=tools,
            factory=factory,
            endpoint=endpoint,
            sandbox=sandbox,
            embedded=embedded,
            scheduler=scheduler,
            loop_lag=loop_lag,
            metrics=metrics,
        )
        await asyncio.to_thread(warm_up)  # dateparser's first call costs ~0.35 s: pay it now
        warm_up_parsers()  # and the first turn's first-time costs (validators built lazily, caches)
        await factory.warm_up()
        await scheduler.start()
        sessions.start()
        await workflows.start()
        loop_lag.start()
        await app.start()
    except BaseException:
        if embedded is not None:
            await embedded.stop()
        await store.close()
        raise
    logger.info(
        "agentchat %s listening on ws://%s:%d (team %s, model %s via %s; instance %s, store %s)",
        __version__,
        settings.host,
        app.port,
        spec.name,
        endpoint.model,
        endpoint.source,
        sessions.services.cluster.instance_id,
        store.db.where,
    )
    # Everything built so far lives as long as the process: keep it out of the cyclic collector's
    # full passes, which otherwise scan it all again and again (hundreds of ms on the loop).
    gc.collect()
    gc.freeze()
    return Runtime(settings, store, app, sessions, scheduler, model_client, sandbox, embedded, loop_lag, workflows)


def check_auth(settings: Settings) -> None:
    """AUTH_MODE's start-up rule: no auth only on loopback (unless ALLOW_INSECURE=1, loudly)."""
    mode = AuthMode(settings.effective_auth_mode)
    problem = startup_problem(
        mode, settings.host.strip().lower(), allow_insecure=settings.allow_insecure, has_token=bool(settings.auth_token)
    )
    if problem:
        raise SettingsError(problem)
    if mode is AuthMode.NONE and not is_loopback_host(settings.host.strip().lower()):
        logger.warning(
            "INSECURE: HOST=%s with AUTH_MODE=none and ALLOW_INSECURE=1: anyone who can reach the port "
            "can use the team, its tools and every session",
            settings.host,
        )


def _reminder_hook(sessions: SessionRegistry) -> Any:
    """What the scheduler calls: queue an occurrence for the session's owner inside the claiming
    transaction (so it is queued once cluster-wide). The owner delivers it, then sends the
    refreshed list of scheduled reminders (so there is no ``recorded`` hook)."""
    store, cluster = sessions.services.store, sessions.services.cluster

    async def deliver(row: ReminderRow, late: bool, tx: Tx) -> None:
        if await store.sessions.get(row.session_id) is None:
            return  # the session was deleted
        payload = {"id": row.id, "message": row.message, "due": row.due, "key": row.dedup_key, "late": late}
        await store.commands.add(row.session_id, "reminder", payload, sender=cluster.instance_id, tx=tx)
        tx.after_commit(lambda: cluster.spawn(cluster.dispatch(row.session_id), f"reminder-{row.session_id}"))

    return deliver


async def _serve(settings: Settings) -> None:
    runtime = await start_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        json.dumps({"event": "listening", "url": f"http://{settings.host}:{runtime.app.port}/"}),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        await runtime.stop()


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard limit (each client costs one descriptor).
    Returns (before, after); where the system refuses, the limit stays and a warning says so."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, FILE_LIMIT_CAP)
    if target <= soft:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        logger.warning("could not raise the open-file limit from %d: %s", soft, exc)
        return soft, soft
    return soft, target


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if settings.instance_id is None:
        settings = settings.model_copy(update={"instance_id": new_instance_id()})
    configure_logging(settings.log_level, instance=settings.instance_id if settings.database_url else None)
    before, after = raise_file_limit()
    if after < settings.max_connections + 64:
        logger.warning(
            "open-file limit %d is below MAX_CONNECTIONS (%d) + 64: raise it (ulimit -n) or lower MAX_CONNECTIONS",
            after,
            settings.max_connections,
        )
    elif after != before:
        logger.info("open-file limit raised from %d to %d", before, after)
    try:
        asyncio.run(_serve(settings))
    except AgentChatError as exc:
        logger.error("%s", exc.message)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - signal handlers normally catch it
        pass
    return 0
