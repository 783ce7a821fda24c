"""OpenTelemetry export: a real OTLP/HTTP receiver decodes the protobuf payloads the server sends."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, of_type


class Receiver:
    """An OTLP/HTTP trace receiver on port 0: every span it was sent, decoded."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.paths.append(self.path)
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            attributes = {a.key: _value(a.value) for a in span.attributes}
                            receiver.spans.append({
                                "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(), "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano, "attributes": attributes, "service": service,
                                "status": span.status.code,
                            })  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


async def test_turn_spans_reach_an_otlp_receiver_with_genai_attributes(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer, receiver: Receiver
) -> None:
    running = await RunningServer(make_settings(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)).start()
    fake_model.enqueue(Reply.of_tool_call("run_terminal_command", {"command": "ls"}), Reply.of_text("done listing"))
    try:
        ws = await running.client()
        try:
            events = await ws.turn("list the files", timeout=4 * UNIT)
        finally:
            await ws.close()
    finally:
        await running.stop()  # shutting down flushes the exporter: every span has been sent
    assert of_type(events, "done")[0]["status"] == "ok"
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    spans = receiver.spans
    roots = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "invoke_agent"]
    assert len(roots) == 1 and roots[0]["parent"] == "" and roots[0]["service"]["service.name"] == "agentchat"
    chats = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "chat"]
    tools = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "execute_tool"]
    assert len(chats) == 2 and len(tools) == 1
    assert all(s["parent"] == roots[0]["span_id"] and s["trace_id"] == roots[0]["trace_id"] for s in chats + tools)
    assert [c["attributes"]["gen_ai.usage.input_tokens"] for c in chats] == [
        r.prompt_tokens for r in fake_model.chat_requests
    ]
    assert all(c["attributes"]["gen_ai.usage.output_tokens"] > 0 for c in chats)
    assert all(c["attributes"]["gen_ai.request.model"] == fake_model.model for c in chats)
    assert tools[0]["name"] == "execute_tool run_terminal_command"
    assert tools[0]["attributes"]["gen_ai.tool.name"] == "run_terminal_command"
    assert all(s["start"] <= s["end"] for s in spans)


def test_nothing_of_the_sdk_is_imported_without_an_endpoint() -> None:
    """Without OTEL_EXPORTER_OTLP_ENDPOINT the server never imports the SDK or an exporter."""
    code = (
        "import sys, backend.main, backend.server.app\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout
