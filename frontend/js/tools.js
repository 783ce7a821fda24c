// Tool calls as collapsible cards: name, arguments (pretty JSON), result (truncated, "show more"),
// error state and duration. Terminal and sandbox output is shown in a monospace block.

import { h } from "./dom.js";
import { icon } from "./icons.js";
import { highlightJson } from "./render.js";
import { formatDuration } from "./util.js";

const PREVIEW_CHARS = 1200;
const PREVIEW_LINES = 18;
const BRIEF_CHARS = 72;

/** Tools whose output is terminal-like text. */
export function isConsoleTool(name) {
  return name === "run_terminal_command" || String(name).startsWith("sandbox_");
}

/** One short line that says what the call does: "$ ls -la", "Buy milk", "print(1)". */
export function briefOf(name, args) {
  if (args === null || args === undefined) return "";
  if (typeof args === "string") return clip(args);
  if (name === "run_terminal_command" && args.command) return clip(`$ ${args.command}`);
  if (name === "sandbox_exec" && args.command) return clip(`$ ${args.command}`);
  const preferred = ["title", "question", "message", "path", "code", "when", "query", "content"];
  for (const key of preferred) if (typeof args[key] === "string") return clip(args[key]);
  const first = Object.values(args).find((v) => typeof v === "string" || typeof v === "number");
  return first === undefined ? "" : clip(String(first));
}

function clip(text) {
  const line = String(text).replace(/\s+/g, " ").trim();
  return line.length > BRIEF_CHARS ? `${line.slice(0, BRIEF_CHARS - 1)}…` : line;
}

function needsTruncation(text) {
  return text.length > PREVIEW_CHARS || text.split("\n").length > PREVIEW_LINES;
}

function preview(text) {
  const lines = text.split("\n").slice(0, PREVIEW_LINES).join("\n");
  return lines.length > PREVIEW_CHARS ? lines.slice(0, PREVIEW_CHARS) : lines;
}

/** A card for a `tool_call` event (state: running). */
export function createToolCard(event) {
  const name = String(event.name || "tool");
  const consoleTool = isConsoleTool(name);
  const card = h("details", {
    class: `tool tool--running${consoleTool ? " tool--console" : ""}`,
    dataset: { callId: String(event.id ?? ""), tool: name },
  });
  const status = h("span", { class: "tool__status", "aria-hidden": "true" }, h("span", { class: "spinner" }));
  const summary = h(
    "summary",
    { class: "tool__summary" },
    h("span", { class: "tool__icon", "aria-hidden": "true" }, icon(consoleTool ? "terminal" : "wrench", { size: 15 })),
    h("span", { class: "tool__name", text: name }),
    h("span", { class: "tool__brief", text: briefOf(name, event.arguments) }),
    h("span", { class: "tool__meta" }, h("span", { class: "tool__duration" }), status),
    h("span", { class: "sr-only tool__state", text: "running" }),
    h("span", { class: "tool__chevron", "aria-hidden": "true" }, icon("chevron", { size: 14 })),
  );
  const args = h("pre", { class: "tool__args" }, h("code", { class: "hljs language-json" }, highlightJson(event.arguments ?? {})));
  const body = h(
    "div",
    { class: "tool__body" },
    h("div", { class: "tool__section" }, h("div", { class: "tool__label", text: "Arguments" }), args),
    h("div", { class: "tool__section tool__result-section", hidden: true }, h("div", { class: "tool__label", text: "Result" })),
  );
  card.append(summary, body);
  return card;
}

/** Fill a card from its `tool_result` event: result text, error state, duration. */
export function applyToolResult(card, event) {
  const isError = Boolean(event.is_error);
  card.classList.remove("tool--running");
  card.classList.add(isError ? "tool--error" : "tool--ok");
  const status = card.querySelector(".tool__status");
  status.replaceChildren(icon(isError ? "alert" : "check", { size: 14 }));
  card.querySelector(".tool__state").textContent = isError ? "failed" : "done";
  card.querySelector(".tool__duration").textContent = formatDuration(event.duration_ms);
  const section = card.querySelector(".tool__result-section");
  section.hidden = false;
  const label = section.querySelector(".tool__label");
  label.textContent = isError ? "Error" : "Result";
  for (const old of section.querySelectorAll(".tool__result, .tool__more")) old.remove();
  section.append(...resultBlock(String(event.content ?? "")));
  if (isError) card.open = true;
}

/** The result <pre> (text only: tool output never becomes markup) and its "Show more" toggle. */
function resultBlock(text) {
  const pre = h("pre", { class: "tool__result" });
  if (!needsTruncation(text)) {
    pre.textContent = text || "(no output)";
    return [pre];
  }
  pre.textContent = preview(text);
  pre.classList.add("is-truncated");
  const hiddenChars = text.length - pre.textContent.length;
  const more = h("button", {
    type: "button",
    class: "tool__more",
    "aria-expanded": "false",
    text: `Show more (${hiddenChars.toLocaleString()} more characters)`,
  });
  more.addEventListener("click", () => {
    const expanded = more.getAttribute("aria-expanded") === "true";
    pre.textContent = expanded ? preview(text) : text;
    pre.classList.toggle("is-truncated", expanded);
    more.setAttribute("aria-expanded", String(!expanded));
    more.textContent = expanded ? `Show more (${hiddenChars.toLocaleString()} more characters)` : "Show less";
  });
  return [pre, more];
}

/** A card for a result whose call we never saw (should not happen; kept robust). */
export function orphanToolCard(event) {
  const card = createToolCard({ id: event.id, name: event.name, arguments: {} });
  applyToolResult(card, event);
  return card;
}
