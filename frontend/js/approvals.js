// Approval cards (`approval_request` events): the agent, the tool and its exact arguments, and
// Allow once / Always allow / Deny (keys A, S, D while the card has focus). `approval_result`
// locks the card with the decision; when the tab is hidden a desktop notification says a call waits.

import { h } from "./dom.js";
import { icon } from "./icons.js";

const DECIDED = { allow: "Allowed once", allow_always: "Always allowed", deny: "Denied" };
const KEYS = { a: "allow", s: "allow_always", d: "deny" };

function argumentsText(event) {
  const args = event.arguments || {};
  if (event.tool === "run_terminal_command" && typeof args.command === "string") return args.command;
  return JSON.stringify(args, null, 2);
}

/** A card for one approval. onDecide(approvalId, decision, note) sends it (false: could not). */
export function createApprovalCard(event, onDecide) {
  const id = String(event.approval_id);
  const card = h("div", { class: "approval", role: "group", tabindex: "0", "aria-label": `Approve ${event.tool}?`, dataset: { approvalId: id } });
  const note = h("input", { type: "text", class: "approval__note", placeholder: "Note (optional, sent with a denial)", "aria-label": "Note", maxlength: "2000" });

  function decide(decision) {
    if (card.classList.contains("is-locked")) return;
    lockApproval(card, { decision, by: "you", pending: true });
    if (onDecide(id, decision, note.value.trim() || undefined) === false) unlock(card);
  }

  const buttons = h(
    "div",
    { class: "approval__buttons" },
    h("button", { type: "button", class: "btn btn--primary btn--small", dataset: { decision: "allow" }, title: "A", text: "Allow once", onclick: () => decide("allow") }),
    h("button", { type: "button", class: "btn btn--small", dataset: { decision: "allow_always" }, title: "S", text: "Always allow", onclick: () => decide("allow_always") }),
    h("button", { type: "button", class: "btn btn--small btn--danger", dataset: { decision: "deny" }, title: "D", text: "Deny", onclick: () => decide("deny") }),
  );
  card.addEventListener("keydown", (e) => {
    if (e.target === note || e.ctrlKey || e.metaKey || e.altKey) return;
    const decision = KEYS[e.key.toLowerCase()];
    if (decision) {
      e.preventDefault();
      decide(decision);
    }
  });
  card.append(
    h("div", { class: "approval__head" }, icon("alert", { size: 16 }), h("span", { text: `${event.agent || "The team"} wants to run ${event.tool}` })),
    h("pre", { class: "approval__args" }, h("code", { text: argumentsText(event) })),
    event.reason ? h("div", { class: "approval__reason", text: `Why it asks: ${event.reason}` }) : null,
    note,
    buttons,
    h("div", { class: "approval__state", role: "status" }),
  );
  return card;
}

function unlock(card) {
  card.classList.remove("is-locked");
  for (const control of card.querySelectorAll("button, input")) control.disabled = false;
  card.querySelector(".approval__state").textContent = "";
}

/** Lock a card with a decision (`approval_result`, or optimistically while sending). */
export function lockApproval(card, result) {
  card.classList.add("is-locked");
  card.dataset.decision = result.decision;
  for (const control of card.querySelectorAll("button, input")) control.disabled = true;
  const who = result.by === "timeout" ? " (no decision in time)" : result.by === "stop" ? " (the turn was stopped)" : "";
  const text = result.pending ? "Sending…" : `${DECIDED[result.decision] || result.decision}${who}${result.note && result.by !== "timeout" ? `: ${result.note}` : ""}`;
  card.querySelector(".approval__state").textContent = text;
}

/** When the tab is hidden, a desktop notification (if the user turned them on) says a call waits. */
export function notifyApproval(event, allowed) {
  if (!document.hidden || !allowed) return;
  try {
    const note = new Notification("Approval needed", { body: `${event.tool}: ${argumentsText(event)}`.slice(0, 200), tag: `approval-${event.approval_id}` });
    note.addEventListener("click", () => window.focus());
  } catch {
    // some platforms only allow notifications from a service worker
  }
}
