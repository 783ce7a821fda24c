// The usage view: tokens, requests and cost per model and per UTC day, read from GET /v1/stats
// (the server prices them with MODEL_PRICES; local models cost 0). Opened from the topbar.

import { apiGet } from "./api.js";
import { byId, h } from "./dom.js";


const NUMBER = new Intl.NumberFormat("en-US");

/** Dollars with enough digits to show small local-model sums (0 stays "$0"). */
export function formatCost(cost) {
  if (!cost) return "$0";
  return cost >= 0.01 ? `$${cost.toFixed(2)}` : `$${cost.toPrecision(2)}`;
}

function usageTable(caption, keyName, keyLabel, rows) {
  const head = h("tr", {}, [keyLabel, "Requests", "Tokens in", "Tokens out", "Cost"].map((text) => h("th", { scope: "col", text })));
  const body = rows.map((row) => h("tr", { class: `usage__row usage__row--${keyName}`, dataset: { key: row[keyName] } },
    h("th", { scope: "row", text: row[keyName] }),
    h("td", { class: "usage__requests", text: NUMBER.format(row.requests) }),
    h("td", { class: "usage__in", text: NUMBER.format(row.prompt_tokens) }),
    h("td", { class: "usage__out", text: NUMBER.format(row.completion_tokens) }),
    h("td", { class: "usage__cost", text: formatCost(row.cost) + (row.unreported ? " (est.)" : "") }),
  ));
  return h("table", { class: "usage__table" }, h("caption", { text: caption }), h("thead", {}, head), h("tbody", {}, body));
}

/** The view of one /v1/stats report. */
export function renderUsage(report) {
  const t = report.totals;
  if (!t.requests) return h("p", { class: "usage__empty", text: "No model usage recorded yet." });
  const summary = h("p", { class: "usage__totals",
    text: `${NUMBER.format(t.requests)} request${t.requests === 1 ? "" : "s"} · ${NUMBER.format(t.prompt_tokens)} tokens in · `
      + `${NUMBER.format(t.completion_tokens)} out · ${formatCost(t.cost)}` });
  return h("div", { class: "usage__report" }, summary,
    usageTable("Per model", "model", "Model", report.by_model),
    usageTable("Per day (UTC)", "day", "Day", [...report.by_day].reverse()));
}

let view = null;

function closeUsage() {
  view?.remove();
  view = null;
  byId("usage-button")?.focus();
}

/** Open the usage view and load the report. */
export async function openUsage() {
  view?.remove();
  const body = h("div", { class: "trace__body usage__body", text: "Loading…" });
  const close = h("button", { type: "button", class: "trace__close", "aria-label": "Close the usage view", text: "×", onclick: closeUsage });
  view = h("aside", { class: "trace usage", role: "dialog", "aria-label": "Usage and cost" },
    h("header", { class: "trace__head" }, h("strong", { text: "Usage and cost" }), close), body);
  view.addEventListener("keydown", (event) => { if (event.key === "Escape") closeUsage(); });
  document.body.append(view);
  close.focus();
  try {
    const response = await apiGet("v1/stats?sessions=0");
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    body.replaceChildren(renderUsage(data));
  } catch (error) {
    body.replaceChildren(h("p", { class: "usage__error", text: `No usage: ${error.message}` }));
  }
}

export function initUsage() {
  byId("usage-button").addEventListener("click", openUsage);
}
