// One session's conversation view: user messages, agent blocks (streamed text, tool cards,
// questions), notices and dividers, built from timeline events in seq order. Replay and live
// events take the same path, so a reloaded page shows exactly what a live one showed.

import { createApprovalCard, lockApproval, notifyApproval } from "./approvals.js";
import { traceButton } from "./traces.js";
import { announce, h } from "./dom.js";
import { icon } from "./icons.js";
import { renderInto } from "./render.js";
import { applyToolResult, createToolCard, orphanToolCard } from "./tools.js";
import { applyNodeEvent, applyRunEvent, createRunCard } from "./workflows.js";
import { closeQuestion, createQuestionPrompt, reopenQuestion } from "./questions.js";
import { bubbleByMessageId, failUnacknowledgedBubbles, findPendingBubble, setQueued, setUserStatus, userBubble } from "./bubbles.js";
import { clockTime, compactNumber, formatDuration, hashHue } from "./util.js";
import { formatBytes } from "./uploads.js";

const texts = new WeakMap(); // text part element -> its Markdown source

/**
 * A conversation. actions: {answer(conv, questionId, text), changed(conv)}.
 * `pending` counts turns submitted and not yet done (running + queued): counted from the
 * timeline, and set to the server's own numbers when an attach or a replay completes.
 */
export function createConversation(id, actions) {
  return {
    id,
    actions,
    // role=log, but not live: streamed drafts would be read out token by token; finished
    // messages are announced through the #announcer region instead.
    root: h("div", { class: "conv", role: "log", "aria-label": "Messages", "aria-live": "off" }),
    lastSeq: 0,
    title: null,
    pending: 0,
    replaying: false,
    initialReplay: false,
    block: null,
    draft: null,
    typing: null,
    queuedIds: [],
    tools: new Map(),
    runs: new Map(),
    questions: new Map(),
    approvals: new Map(),
    grants: [],
    todos: [],
    reminders: [],
    context: null,
    scrollTop: null,
    unread: false,
  };
}

function changed(conv) {
  updateTyping(conv);
  conv.actions.changed(conv);
}

// --- user messages -------------------------------------------------------------------------------

/** Show the user's message right away, marked "sending" until the server acknowledges it. */
export function addOptimisticUser(conv, text, clientId, { offline = false } = {}) {
  const bubble = userBubble(text, Date.now() / 1000);
  bubble.dataset.clientId = clientId;
  setUserStatus(bubble, offline ? "waiting" : "sending", offline ? "Waiting for connection…" : "Sending…");
  conv.root.append(bubble);
  changed(conv);
  return bubble;
}

export function markSent(conv, clientId, generation) {
  const bubble = findPendingBubble(conv.root, clientId);
  if (!bubble) return;
  bubble.dataset.generation = String(generation);
  setUserStatus(bubble, "sending", "Sending…");
}

/** Bubbles sent on an older socket and never acknowledged: offer to resend them. */
export function failUnacknowledged(conv, generation) {
  failUnacknowledgedBubbles(conv.root, generation);
}

/** The oldest bubble still "sending" is marked failed (the server refused a frame). */
export function failOldestSending(conv) {
  const bubble = conv.root.querySelector('.msg--user[data-status="sending"]');
  if (bubble) setUserStatus(bubble, "failed", "Not delivered");
  changed(conv);
}

export function onUserMessage(conv, event) {
  // A message sent while a turn runs is queued: the running reply keeps its block above it.
  if (conv.pending === 0) closeBlock(conv);
  let bubble = findPendingBubble(conv.root, event.client_id);
  if (bubble) {
    // events that arrived after the optimistic bubble come before it in the timeline: move it
    if (bubble !== conv.root.lastElementChild && !bubble.nextElementSibling?.classList.contains("typing")) {
      conv.root.append(bubble);
    }
  } else {
    bubble = userBubble(event.content, event.ts);
    conv.root.append(bubble);
  }
  bubble.dataset.messageId = event.message_id || "";
  bubble.dataset.seq = String(event.seq);
  bubble.querySelector(".msg__time").textContent = clockTime(event.ts);
  setUserStatus(bubble, "sent", "");
  conv.pending += 1;
  changed(conv);
}

export function onQueued(conv, event) {
  setQueued(bubbleByMessageId(conv.root, event.message_id), event.position);
  conv.queuedIds.push(String(event.message_id));
  changed(conv);
}

// --- agent blocks ---------------------------------------------------------------------------------

function agentBlock(agent, ts) {
  const name = String(agent || "assistant");
  const body = h("div", { class: "msg__parts" });
  const foot = h("footer", { class: "msg__foot", hidden: true });
  const el = h(
    "article",
    { class: "msg msg--agent", dataset: { agent: name }, style: `--hue: ${hashHue(name)}` },
    h("div", { class: "msg__avatar", "aria-hidden": "true", text: name.slice(0, 1).toUpperCase() }),
    h(
      "div",
      { class: "msg__main" },
      h("header", { class: "msg__head" }, h("span", { class: "msg__agent", text: name }), h("time", { class: "msg__time", text: clockTime(ts) })),
      body,
      foot,
    ),
  );
  return { agent: name, el, body, foot, finalText: null };
}

function ensureBlock(conv, agent, ts) {
  const name = String(agent || conv.block?.agent || "assistant");
  if (conv.block && conv.block.agent === name) return conv.block;
  closeDraft(conv);
  conv.block = agentBlock(name, ts);
  conv.root.append(conv.block.el);
  return conv.block;
}

function closeBlock(conv) {
  closeDraft(conv);
  conv.block = null;
}

/** Put an element (tool card, question, notice) into the speaking agent's block. */
export function appendPart(conv, agent, element, ts) {
  closeDraft(conv);
  ensureBlock(conv, agent, ts).body.append(element);
  changed(conv);
}

// --- streamed text ----------------------------------------------------------------------------------

function textPart() {
  return h("div", { class: "part part--text md" });
}

function setText(el, text) {
  texts.set(el, text);
  renderInto(el, text);
}

export function onDelta(conv, event) {
  const block = ensureBlock(conv, event.agent, event.ts);
  if (!conv.draft || conv.draft.block !== block) {
    closeDraft(conv);
    const el = textPart();
    el.classList.add("is-streaming");
    block.body.append(el);
    conv.draft = { block, el, text: "", rendered: null, frame: 0 };
  }
  const draft = conv.draft;
  draft.text += String(event.content ?? "");
  texts.set(draft.el, draft.text);
  if (!draft.frame) {
    draft.frame = requestAnimationFrame(() => {
      draft.frame = 0;
      renderInto(draft.el, draft.text);
      draft.rendered = draft.text;
      changed(conv);
    });
  }
  if (conv.typing) changed(conv);
}

/** End the open draft: render its final text now (cancels the pending frame). */
function closeDraft(conv, finalText) {
  const draft = conv.draft;
  if (!draft) return null;
  conv.draft = null;
  if (draft.frame) cancelAnimationFrame(draft.frame);
  draft.frame = 0;
  const text = finalText ?? draft.text;
  if (draft.rendered !== text) setText(draft.el, text); // same element: the content is swapped
  else texts.set(draft.el, text);
  draft.el.classList.remove("is-streaming");
  return draft.el;
}

function lastTextPart(block) {
  const last = block.body.lastElementChild;
  return last && last.classList.contains("part--text") ? last : null;
}

/**
 * A complete message from an agent (`agent_message`) or the turn's answer (`response`): it
 * replaces the streamed draft in the same element, or is added when nothing was streamed.
 */
function commitText(conv, event, { final }) {
  const content = String(event.content ?? "");
  if (!content && !conv.draft) return;
  const block = ensureBlock(conv, event.agent, event.ts);
  let el;
  if (conv.draft && conv.draft.block === block) {
    el = closeDraft(conv, content || undefined);
  } else {
    closeDraft(conv);
    const last = lastTextPart(block);
    if (last && texts.get(last) === content) el = last;
    else {
      el = textPart();
      setText(el, content);
      block.body.append(el);
    }
  }
  if (final) {
    el.classList.add("part--final");
    block.finalText = texts.get(el) ?? content;
  }
  if (!conv.replaying && content) announce(`${block.agent}: ${content.slice(0, 280)}`);
  changed(conv);
}

export function onAgentMessage(conv, event) {
  commitText(conv, event, { final: false });
}

export function onResponse(conv, event) {
  commitText(conv, event, { final: true });
}

export function onHandoff(conv, event) {
  const line = h(
    "div",
    { class: "part part--handoff" },
    icon("handoff", { size: 14 }),
    h("span", { text: `Handed off to ${event.target}` }),
  );
  appendPart(conv, event.agent, line, event.ts);
}

// --- tools and questions --------------------------------------------------------------------------

/** Swarm handoffs are tool calls too; the `handoff` event already says it, so no card. */
function isHandoffTool(name) {
  return String(name || "").startsWith("transfer_to_");
}

export function onToolCall(conv, event) {
  if (isHandoffTool(event.name)) return;
  const card = createToolCard(event);
  conv.tools.set(String(event.id), card);
  appendPart(conv, event.agent, card, event.ts);
}

export function onToolResult(conv, event) {
  if (isHandoffTool(event.name)) return;
  const card = conv.tools.get(String(event.id));
  if (card) applyToolResult(card, event);
  else {
    const orphan = orphanToolCard(event);
    conv.tools.set(String(event.id), orphan);
    appendPart(conv, event.agent, orphan, event.ts);
  }
  changed(conv);
}

// --- workflow runs ---------------------------------------------------------------------------------

export function onWorkflowRun(conv, event) {
  const id = String(event.run_id);
  let card = conv.runs.get(id);
  if (!card && event.graph) {
    card = createRunCard(event);
    conv.runs.set(id, card);
    appendPart(conv, "workflow", card, event.ts);
  } else if (card) {
    applyRunEvent(card, event);
    changed(conv);
  }
}

export function onNodeRun(conv, event) {
  const card = conv.runs.get(String(event.run_id));
  if (!card) return;
  applyNodeEvent(card, event);
  changed(conv);
}

export function onQuestion(conv, event) {
  const id = String(event.question_id);
  const existing = conv.questions.get(id);
  if (existing) {
    reopenQuestion(existing);
    return existing;
  }
  const prompt = createQuestionPrompt(event, (questionId, text) => conv.actions.answer(conv, questionId, text));
  conv.questions.set(id, prompt);
  appendPart(conv, conv.block?.agent || "assistant", prompt, event.ts);
  if (!conv.replaying) {
    announce(`Question: ${String(event.content).slice(0, 200)}`);
    prompt.querySelector(".chip--option, .question__input")?.focus({ preventScroll: true });
  }
  return prompt;
}

export function onQuestionClosed(conv, event) {
  const prompt = conv.questions.get(String(event.question_id));
  if (prompt) closeQuestion(prompt, event);
  changed(conv);
}

export function onApprovalRequest(conv, event) {
  const id = String(event.approval_id);
  const existing = conv.approvals.get(id);
  if (existing) return existing;
  const card = createApprovalCard(event, (approvalId, decision, note) => conv.actions.decide(conv, approvalId, decision, note));
  conv.approvals.set(id, card);
  appendPart(conv, conv.block?.agent || event.agent || "assistant", card, event.ts);
  if (!conv.replaying) {
    announce(`Approval needed: ${event.tool}`);
    card.focus({ preventScroll: true });
    notifyApproval(event, conv.actions.notificationsOn());
  }
  return card;
}

export function onApprovalResult(conv, event) {
  const card = conv.approvals.get(String(event.approval_id));
  if (card) lockApproval(card, event);
  changed(conv);
}

export function onApprovalGrants(conv, event) {
  conv.grants = event.grants || [];
}

/** Approvals the server still waits for (from the `session` reply on attach). */
export function ensurePendingApprovals(conv, pending) {
  for (const approval of pending || []) onApprovalRequest(conv, approval);
}

/** Prompts the server still waits for (from the `session` reply on attach). */
export function ensurePendingQuestions(conv, pending) {
  for (const question of pending || []) onQuestion(conv, question);
}

// --- notices, dividers, turn end ------------------------------------------------------------------

function notice(kind, iconName, text) {
  return h("div", { class: `notice notice--${kind}`, role: kind === "error" ? "alert" : null }, icon(iconName, { size: 15 }), h("span", { text }));
}

/** An error inside a turn goes into the agent's block; otherwise it stands on its own. */
export function onTimelineError(conv, event) {
  const text = `${event.code ? `${event.code}: ` : ""}${event.message || "something went wrong"}`;
  const el = notice("error", "alert", text);
  el.dataset.code = event.code || "";
  if (conv.block) appendPart(conv, conv.block.agent, el, event.ts);
  else {
    closeDraft(conv);
    conv.root.append(el);
    changed(conv);
  }
}

export function onWarning(conv, event) {
  const el = notice("warning", "alert", event.message || event.code || "warning");
  if (conv.block) appendPart(conv, conv.block.agent, el, event.ts);
  else {
    conv.root.append(el);
    changed(conv);
  }
}

export function onReminderEvent(conv, event) {
  closeBlock(conv);
  const late = event.late ? " (delivered late)" : "";
  conv.root.append(notice("reminder", "clock", `Reminder: ${event.message}${late}`));
  changed(conv);
}

function divider(text, kind) {
  return h("div", { class: `divider divider--${kind}`, role: "separator" }, h("span", { text }));
}

/** A file was uploaded to the session: its name and size, where the team reads it in the title. */
export function onFile(conv, event) {
  closeBlock(conv);
  const el = notice("file", "paperclip", `${event.name} (${formatBytes(event.size)}) attached`);
  el.dataset.name = String(event.name ?? "");
  if (Array.isArray(event.paths) && event.paths.length) el.title = `The team reads it at ${event.paths.join(" or ")}`;
  conv.root.append(el);
  changed(conv);
}

export function onSummary(conv, event) {
  closeBlock(conv);
  const n = Number(event.folded ?? event.summarized_messages ?? 0);
  conv.root.append(divider(`${n} earlier message${n === 1 ? "" : "s"} folded into a summary`, "summary"));
  changed(conv);
}

export function onReset(conv) {
  closeBlock(conv);
  conv.root.append(divider("Conversation reset — the team starts fresh", "reset"));
  changed(conv);
}

const STATUS_LABEL = { cancelled: "Stopped", error: "Failed" };

/** `done`: finish the draft, label the block (stopped / failed / usage), start the next turn. */
export function onDone(conv, event) {
  const status = event.status || "ok";
  const draftEl = closeDraft(conv);
  if (draftEl && status === "cancelled") draftEl.classList.add("is-stopped");
  const block = conv.block;
  if (block) {
    block.el.classList.add(`msg--${status}`);
    fillFooter(block, event, status, conv.id);
  } else if (status === "cancelled") {
    conv.root.append(notice("muted", "stop", "Stopped before the team replied"));
  }
  conv.block = null;
  conv.pending = Math.max(0, conv.pending - 1);
  const next = conv.queuedIds.shift();
  if (next) setQueued(bubbleByMessageId(conv.root, next), null);
  changed(conv);
}

function fillFooter(block, event, status, sessionId) {
  const foot = block.foot;
  foot.replaceChildren();
  if (STATUS_LABEL[status]) foot.append(h("span", { class: `tag tag--${status}`, text: STATUS_LABEL[status] }));
  if (block.finalText) {
    const copy = h("button", { type: "button", class: "foot-btn", "aria-label": "Copy this reply" }, icon("copy", { size: 14 }), h("span", { text: "Copy" }));
    const text = block.finalText;
    copy.addEventListener("click", () => block.el.dispatchEvent(new CustomEvent("copy-text", { bubbles: true, detail: { text, button: copy } })));
    foot.append(copy);
  }
  const usage = event.usage || {};
  const bits = [];
  if (event.duration_ms) bits.push(formatDuration(event.duration_ms));
  if (usage.prompt_tokens || usage.completion_tokens) {
    bits.push(`${compactNumber(usage.prompt_tokens || 0)} in · ${compactNumber(usage.completion_tokens || 0)} out`);
  }
  if (bits.length) foot.append(h("span", { class: "foot-meta", text: bits.join(" · ") }));
  if (event.trace && event.trace.spans > 1) foot.append(traceButton(sessionId, event.trace));
  foot.hidden = foot.childElementCount === 0;
}

// --- activity ---------------------------------------------------------------------------------------

/** The "team is working" dots: shown while a turn runs and nothing is visibly streaming. */
function updateTyping(conv) {
  const waitingOnUser = [...conv.questions.values()].some((q) => !q.classList.contains("is-locked"));
  const runningTool = conv.block?.body.querySelector(".tool--running");
  const show = conv.pending > 0 && !conv.draft && !waitingOnUser && !runningTool;
  if (!show) {
    conv.typing?.remove();
    conv.typing = null;
    return;
  }
  if (!conv.typing) {
    conv.typing = h(
      "div",
      { class: "typing", "aria-label": "The team is working", role: "status" },
      h("span", { class: "typing__dot" }),
      h("span", { class: "typing__dot" }),
      h("span", { class: "typing__dot" }),
    );
  }
  if (conv.root.lastElementChild !== conv.typing) conv.root.append(conv.typing);
}

/** Forget everything shown (the server lost the history we had, e.g. a wiped data dir). */
export function clearConversation(conv) {
  closeBlock(conv);
  conv.root.replaceChildren();
  conv.lastSeq = 0;
  conv.tools.clear();
  conv.runs.clear();
  conv.questions.clear();
  conv.queuedIds = [];
  conv.typing = null;
}

export function isRunning(conv) {
  return conv.pending > 0;
}

export function queuedCount(conv) {
  return Math.max(0, conv.pending - 1);
}

export function messageCount(conv) {
  return conv.root.querySelectorAll(".msg").length;
}
