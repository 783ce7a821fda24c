// The user's message bubbles and their delivery state: waiting (offline), sending, sent,
// failed (with Resend), queued behind a running turn.

import { h } from "./dom.js";
import { clockTime } from "./util.js";

export function userBubble(text, ts) {
  return h(
    "article",
    { class: "msg msg--user" },
    h("div", { class: "msg__bubble" }, h("div", { class: "msg__text", text })),
    h("div", { class: "msg__meta" }, h("span", { class: "msg__status" }), h("time", { class: "msg__time", text: clockTime(ts) })),
  );
}

/** status: "waiting" | "sending" | "sent" | "failed"; a failed bubble gets a Resend button. */
export function setUserStatus(bubble, status, label) {
  bubble.dataset.status = status;
  const slot = bubble.querySelector(".msg__status");
  slot.replaceChildren(label || "");
  if (status === "failed") {
    const resend = h("button", { type: "button", class: "link-btn", text: "Resend" });
    resend.addEventListener("click", () => bubble.dispatchEvent(new CustomEvent("resend", { bubbles: true })));
    slot.append(" · ", resend);
  }
}

/** The not-yet-acknowledged bubble sent with this client_id. */
export function findPendingBubble(root, clientId) {
  if (!clientId) return null;
  return [...root.querySelectorAll(".msg--user[data-client-id]")].find(
    (el) => el.dataset.clientId === clientId && el.dataset.status !== "sent",
  );
}

export function bubbleByMessageId(root, messageId) {
  return root.querySelector(`.msg--user[data-message-id="${CSS.escape(String(messageId))}"]`);
}

/** Mark a bubble as waiting behind the running turn (position) or as started (null). */
export function setQueued(bubble, position) {
  if (!bubble) return;
  bubble.classList.toggle("is-queued", position !== null);
  bubble.querySelector(".msg__status").textContent = position !== null ? `Queued (#${position})` : "";
}

/** Bubbles sent on an older socket (generation) and never acknowledged: offer to resend them. */
export function failUnacknowledgedBubbles(root, generation) {
  for (const bubble of root.querySelectorAll('.msg--user[data-status="sending"]')) {
    if (Number(bubble.dataset.generation || 0) < generation) setUserStatus(bubble, "failed", "Not delivered");
  }
}
