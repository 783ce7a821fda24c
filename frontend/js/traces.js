// The per-turn trace drawer: a waterfall of the turn's spans (model calls, tools, folds, waits,
// handoffs) with their times and tokens, read from GET /v1/sessions/{id}/traces?turn=<seq>.

import { apiGet } from "./api.js";
import { h } from "./dom.js";

const TYPE_LABEL = { turn: "turn", model: "model", tool: "tool", context: "fold", wait: "wait", handoff: "handoff" };

function spanMeta(span) {
  const a = span.attributes || {};
  const bits = [`${span.duration_ms.toFixed(span.duration_ms < 10 ? 1 : 0)} ms`];
  if (span.span_type === "model") {
    bits.push(`${a.prompt_tokens ?? 0} in · ${a.completion_tokens ?? 0} out${a.usage_reported === false ? " (est.)" : ""}`);
    if (a.ttft_ms !== null && a.ttft_ms !== undefined) bits.push(`first token ${Math.round(a.ttft_ms)} ms`);
  } else if (span.span_type === "tool" && a.arguments) {
    bits.push(a.arguments);
  } else if (span.span_type === "context") {
    bits.push(`${a.folded_messages ?? 0} messages folded`);
  }
  if (span.error_message) bits.push(span.error_message);
  return bits.join(" · ");
}

function spanLabel(span) {
  const a = span.attributes || {};
  if (span.span_type === "model") return `${a.agent || "model"} → ${a.model || "model"}`;
  return span.name;
}

/** The waterfall of one turn's spans (the turn's span first, the others in start order). */
export function renderWaterfall(spans) {
  const root = spans.find((s) => s.parent_id === null) || spans[0];
  const start = root.started_at;
  const total = Math.max(root.ended_at - start, 1e-6);
  const rows = spans.map((span) => {
    const left = Math.max(0, ((span.started_at - start) / total) * 100);
    const width = Math.max(0.5, ((span.ended_at - span.started_at) / total) * 100);
    return h(
      "li",
      { class: `trace__row trace__row--${span.span_type} is-${span.status}`, dataset: { type: span.span_type } },
      h("span", { class: "trace__type", text: TYPE_LABEL[span.span_type] || span.span_type }),
      h("span", { class: "trace__name", text: spanLabel(span), title: spanLabel(span) }),
      h("span", { class: "trace__track" }, h("span", { class: "trace__bar", style: `left:${left}%;width:${Math.min(width, 100 - left)}%` })),
      h("span", { class: "trace__meta", text: spanMeta(span) }),
    );
  });
  return h("ol", { class: "trace__list" }, rows);
}

let drawer = null;

function closeDrawer() {
  drawer?.remove();
  drawer = null;
}

/** Open the drawer for one turn of a session. */
export async function openTrace(sessionId, turn) {
  closeDrawer();
  const body = h("div", { class: "trace__body", text: "Loading…" });
  const close = h("button", { type: "button", class: "trace__close", "aria-label": "Close the trace", text: "×", onclick: closeDrawer });
  drawer = h("aside", { class: "trace", role: "dialog", "aria-label": `Trace of turn ${turn}` },
    h("header", { class: "trace__head" }, h("strong", { text: `Trace · turn ${turn}` }), close), body);
  drawer.addEventListener("keydown", (event) => { if (event.key === "Escape") closeDrawer(); });
  document.body.append(drawer);
  close.focus();
  try {
    const response = await apiGet(`v1/sessions/${encodeURIComponent(sessionId)}/traces?turn=${turn}`);
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    body.replaceChildren(renderWaterfall(data.spans));
  } catch (error) {
    body.replaceChildren(h("p", { class: "trace__error", text: `No trace: ${error.message}` }));
  }
}

/** The footer button of a finished turn whose done carries a trace. */
export function traceButton(sessionId, trace) {
  return h("button", {
    type: "button", class: "foot-btn trace-btn", "aria-label": `Show the trace of turn ${trace.turn}`,
    onclick: () => openTrace(sessionId, trace.turn),
  }, h("span", { text: `Trace (${trace.model_calls} model, ${trace.tool_calls} tool)` }));
}
