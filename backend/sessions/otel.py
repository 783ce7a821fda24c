"""OpenTelemetry export of the turn spans (only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set).

The spans a turn stored (``sessions/tracing.py``) are re-created with their own times and parents
on a tracer provider of our own (never the global one), and exported over OTLP/HTTP in the
background by a ``BatchSpanProcessor``. Model calls and tool executions carry the GenAI semantic
conventions (``gen_ai.*``). Nothing here is imported unless the endpoint is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import __version__
from ..store import SpanRow

logger = logging.getLogger(__name__)

NS = 1_000_000_000


def traces_url(endpoint: str) -> str:
    """``OTEL_EXPORTER_OTLP_ENDPOINT`` is the base URL; traces go to ``<base>/v1/traces`` (the spec)."""
    return endpoint.rstrip("/") + "/v1/traces"


def attributes_for(span: SpanRow, *, session_id: str, team: str) -> dict[str, Any]:
    """OTel attributes of one stored span (pure): GenAI conventions for model and tool spans."""
    a = span.attributes
    out: dict[str, Any] = {"agentchat.session_id": session_id, "agentchat.span_type": span.span_type,
                           "agentchat.span_id": span.span_id}  # fmt: skip
    if span.span_type == "turn":
        out |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": team, "agentchat.turn": a.get("turn"),
                "agentchat.turn.kind": a.get("kind"), "gen_ai.usage.input_tokens": a.get("prompt_tokens"),
                "gen_ai.usage.output_tokens": a.get("completion_tokens")}  # fmt: skip
    elif span.span_type == "model":
        out |= {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": a.get("model"), "gen_ai.response.model": a.get("model"),
                "gen_ai.agent.name": a.get("agent"), "gen_ai.usage.input_tokens": a.get("prompt_tokens"),
                "gen_ai.usage.output_tokens": a.get("completion_tokens"),
                "agentchat.usage_reported": a.get("usage_reported"), "agentchat.ttft_ms": a.get("ttft_ms")}  # fmt: skip
        if a.get("finish_reason"):
            out["gen_ai.response.finish_reasons"] = [str(a["finish_reason"])]
    elif span.span_type == "tool":
        out |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": a.get("tool"),
                "gen_ai.tool.type": "function", "gen_ai.tool.call.id": a.get("call_id"),
                "gen_ai.agent.name": a.get("agent"), "gen_ai.tool.call.arguments": a.get("arguments"),
                "agentchat.result_chars": a.get("result_chars")}  # fmt: skip
    else:
        out |= {f"agentchat.{k}": v for k, v in a.items()}
    if span.error_code:
        out["error.type"] = span.error_code
    return {k: v for k, v in out.items() if isinstance(v, str | bool | int | float | list)}


def span_name(span: SpanRow, team: str) -> str:
    if span.span_type == "turn":
        return f"invoke_agent {team}"
    if span.span_type == "model":
        return f"chat {span.attributes.get('model') or ''}".strip()
    if span.span_type == "tool":
        return f"execute_tool {span.name}"
    return span.name


class OtelExport:
    """One tracer provider for this process, exporting to one OTLP/HTTP endpoint."""

    def __init__(self, endpoint: str, *, team: str, instance: str) -> None:
        self.team = team
        resource = Resource.create({"service.name": "agentchat", "service.version": __version__,
                                    "service.instance.id": instance})  # fmt: skip
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
        self._tracer = self._provider.get_tracer("agentchat", __version__)
        self.exported = 0

    def export(self, session_id: str, spans: Sequence[SpanRow]) -> None:
        """Queue one turn's spans (the root first) for export; never raises into the turn."""
        if not spans:
            return
        try:
            root, children = spans[0], spans[1:]
            parent = self._start(root, session_id, None)
            context = trace.set_span_in_context(parent)
            for span in children:
                self._start(span, session_id, context).end(end_time=int(span.ended_at * NS))
            parent.end(end_time=int(root.ended_at * NS))
            self.exported += len(spans)
        except Exception:
            logger.exception("session %s: exporting the turn's spans failed", session_id)

    def _start(self, span: SpanRow, session_id: str, context: Any) -> trace.Span:
        kind = SpanKind.CLIENT if span.span_type == "model" else SpanKind.INTERNAL
        otel = self._tracer.start_span(
            span_name(span, self.team), context=context, kind=kind, start_time=int(span.started_at * NS),
            attributes=attributes_for(span, session_id=session_id, team=self.team),
        )  # fmt: skip
        if span.status == "error":
            otel.set_status(Status(StatusCode.ERROR, span.error_message or span.error_code or "error"))
        elif span.status == "ok":
            otel.set_status(Status(StatusCode.OK))
        return otel

    def flush(self, timeout_ms: int = 5_000) -> bool:
        return bool(self._provider.force_flush(timeout_ms))

    def shutdown(self) -> None:
        self._provider.shutdown()
