// The controller: which session is shown, what is sent, and where each server event goes.
//
// Every timeline event is deduplicated by (session_id, seq) before it reaches a view, so a
// resume after a reconnect or a server restart neither repeats nor skips anything.

import { byId } from "./dom.js";
import { createConnection, socketUrl } from "./connection.js";
import { dispatch, unknownTypes } from "./protocol.js";
import * as conversation from "./conversation.js";
import { createHandlers } from "./events.js";
import { copyText, installCopyButtons } from "./render.js";
import { renderSessions, refreshSessionTimes, closeDrawers, drawerOpen, isNarrow } from "./sidebar.js";
import { renderTodos, renderReminders, refreshReminderTimes, setPanelsEnabled } from "./panels.js";
import { renderContextMeter } from "./context-meter.js";
import { renderRunState, focusComposer } from "./composer.js";
import { enabled as notificationsEnabled, showToast } from "./notify.js";
import { renderStatus } from "./status.js";
import { follow, initScrolling, scrollToBottom, setPinned } from "./scroll.js";
import { randomId, timeZone } from "./util.js";
import { postFile, renderUploadStatus } from "./uploads.js";
import { postImport, renderExportMenu } from "./transfer.js";

export const state = {
  conn: null,
  views: new Map(), // session id -> conversation
  current: null, // the conversation on screen (id null: not created yet)
  sessions: [],
  createQueue: [], // conversations waiting for their `session{created}` reply, in send order
  outbox: [], // frames typed while offline
  unread: new Set(),
};

// --- views ----------------------------------------------------------------------------------------

function newConversation(id = null) {
  const conv = conversation.createConversation(id, {
    answer,
    decide,
    changed: onConversationChanged,
    notificationsOn: notificationsEnabled,
  });
  conv.waiting = []; // messages typed before the session id is known
  conv.uploads = []; // files dropped before the session id is known
  if (id) state.views.set(id, conv);
  return conv;
}

function viewFor(id) {
  return state.views.get(id) || newConversation(id);
}

/** Put a conversation on screen: its messages, title, panels, meter and run state. */
function show(conv) {
  const previous = state.current;
  const scroller = byId("scroller");
  if (previous && previous !== conv) previous.scrollTop = scroller.scrollTop;
  state.current = conv;
  byId("conversation").replaceChildren(conv.root);
  state.unread.delete(conv.id);
  setHash(conv.id);
  renderChrome();
  renderPanels();
  renderSidebar();
  if (conv.scrollTop === null) scrollToBottom();
  else scroller.scrollTop = conv.scrollTop;
  setPinned();
}

function renderChrome() {
  const conv = state.current;
  const title = conv.title || (conv.id ? "Untitled chat" : "New chat");
  byId("session-title").textContent = title;
  document.title = `${title} · AgentChat`;
  renderRunState({ running: conversation.isRunning(conv), queued: conversation.queuedCount(conv) });
  renderContextMeter(conv.context);
  setPanelsEnabled(Boolean(conv.id));
  renderExportMenu(conv.id);
  const empty = conv.root.childElementCount === 0 && !conv.loading;
  byId("welcome").hidden = !empty;
  byId("scroller").classList.toggle("is-empty", empty);
}

function renderPanels() {
  const conv = state.current;
  const open = renderTodos(conv.todos, sendPanelRequest);
  const scheduled = renderReminders(conv.reminders, sendPanelRequest);
  const badge = byId("panels-badge");
  badge.hidden = open + scheduled === 0;
  badge.textContent = String(open + scheduled);
}

let sidebarTimer = null;
function renderSidebar() {
  clearTimeout(sidebarTimer);
  sidebarTimer = null;
  renderSessions(state.sessions, {
    currentId: state.current?.id,
    unread: state.unread,
    onSelect: (id) => {
      switchTo(id);
      if (isNarrow()) closeDrawers();
    },
    onRename: (id, title) => request({ type: "rename", session_id: id, title }),
    onDelete: (id) => request({ type: "delete", session_id: id }),
  });
}

let sessionsTimer = null;
function refreshSessionsSoon() {
  clearTimeout(sessionsTimer);
  sessionsTimer = setTimeout(() => request({ type: "sessions" }), 400);
}

// --- hash routing -----------------------------------------------------------------------------------

function hashSession() {
  return new URLSearchParams(window.location.hash.slice(1)).get("s");
}

function setHash(id) {
  if (hashSession() === id || (!id && !window.location.hash)) return;
  const url = id ? `#s=${encodeURIComponent(id)}` : window.location.pathname + window.location.search;
  window.history.replaceState(null, "", url);
}

function onHashChange() {
  const id = hashSession();
  if (id && id !== state.current?.id) switchTo(id);
  else if (!id && state.current?.id) show(newConversation());
}

// --- sending ------------------------------------------------------------------------------------------

/** Send a request now, or report false when offline (requests are not queued). */
function request(frame) {
  return state.conn?.send(frame) ?? false;
}

/** Send a chat message frame, or keep it for when the socket is back. */
function transmit(conv, frame) {
  if (!conv.id) {
    if (conv.creating) {
      conv.waiting.push(frame);
      return;
    }
    conv.creating = true;
    state.createQueue.push(conv);
  } else frame.session_id = conv.id;
  if (state.conn.send(frame)) conversation.markSent(conv, frame.client_id, state.conn.generation);
  else {
    if (!conv.id) {
      conv.creating = false;
      state.createQueue = state.createQueue.filter((c) => c !== conv);
    }
    state.outbox.push({ conv, frame });
  }
}

function sendMessage(text) {
  const conv = state.current;
  const clientId = randomId();
  conversation.addOptimisticUser(conv, text, clientId, { offline: !state.conn.isOpen() });
  if (!conv.title) conv.title = text.replace(/\s+/g, " ").slice(0, 60);
  setPinned(true);
  renderChrome();
  scrollToBottom();
  transmit(conv, { type: "message", content: text, client_id: clientId, tz: timeZone() });
  return true;
}

// --- files -------------------------------------------------------------------------------------------

let uploading = Promise.resolve(); // one upload at a time, in the order the files were given

/** Attach files to the conversation on screen; a new chat is created first (files need a session). */
function uploadFiles(files) {
  const conv = state.current;
  if (conv.id) {
    for (const file of files) queueUpload(conv.id, file);
    return;
  }
  conv.uploads.push(...files);
  if (!conv.creating) {
    if (!request({ type: "new", tz: timeZone() })) {
      conv.uploads = [];
      showToast({ title: "Offline", body: "Attach the files again when the connection is back.", kind: "error" });
      return;
    }
    conv.creating = true;
    state.createQueue.push(conv);
  }
  renderUploadStatus(`Waiting for the session to attach ${files.length} file${files.length === 1 ? "" : "s"}…`);
}

/** The session of `conv` was created: send the files that were waiting for it. */
function flushUploads(conv) {
  for (const file of conv.uploads.splice(0)) queueUpload(conv.id, file);
}

function queueUpload(sessionId, file) {
  uploading = uploading.then(async () => {
    renderUploadStatus(`Uploading ${file.name}…`);
    const result = await postFile(sessionId, file);
    renderUploadStatus("");
    if (!result.ok) {
      const reason = result.body?.error || `HTTP ${result.status}`;
      showToast({ title: `${file.name} was not attached`, body: reason, kind: "error" });
    }
  });
}

// --- export and import ---------------------------------------------------------------------------

/** Import an exported chat as a new session and switch to it; a refusal is a toast with the reason. */
async function importChat(file) {
  renderUploadStatus(`Importing ${file.name}…`);
  const result = await postImport(file);
  renderUploadStatus("");
  if (!result.ok) {
    const reason = result.body?.error || `HTTP ${result.status}`;
    showToast({ title: `${file.name} was not imported`, body: reason, kind: "error" });
    return;
  }
  request({ type: "sessions" });
  switchTo(result.body.session_id);
  if (isNarrow()) closeDrawers();
  showToast({ title: "Chat imported", body: `${result.body.events} events, ${result.body.todos} todos` });
}

function flushOutbox() {
  const pending = state.outbox;
  state.outbox = [];
  for (const { conv, frame } of pending) transmit(conv, frame);
}

function decide(conv, approvalId, decision, note) {
  const ok = request({ type: "approval", approval_id: approvalId, decision, note, session_id: conv.id ?? undefined });
  if (!ok) showToast({ title: "Offline", body: "The decision will need to be sent again once the connection is back.", kind: "error" });
  return ok;
}

function answer(conv, questionId, text) {
  const ok = request({ type: "answer", question_id: questionId, content: text, session_id: conv.id ?? undefined });
  if (!ok) showToast({ title: "Offline", body: "The answer will need to be sent again once the connection is back.", kind: "error" });
  return ok;
}

function sendPanelRequest(frame) {
  const conv = state.current;
  if (!conv.id) {
    showToast({ title: "Start a conversation first", body: "Todos and reminders belong to a session.", kind: "error" });
    return false;
  }
  const ok = request({ ...frame, session_id: conv.id });
  if (!ok) showToast({ title: "Offline", body: "Try again when the connection is back.", kind: "error" });
  return ok;
}

function stop() {
  const conv = state.current;
  if (!conv.id || !conversation.isRunning(conv)) return false;
  request({ type: "stop", session_id: conv.id });
  return true;
}

function onEscape() {
  if (drawerOpen()) {
    closeDrawers();
    return true;
  }
  return stop();
}

/** Attach the socket to a session: replay what this view has not seen, then todos and reminders. */
function attach(conv) {
  if (!conv.id || !state.conn?.isOpen()) return;
  conv.loading = true;
  request({ type: "resume", session_id: conv.id, last_seq: conv.lastSeq, tz: timeZone() });
  request({ type: "todo_list", session_id: conv.id });
  request({ type: "reminder_list", session_id: conv.id });
}

function switchTo(id) {
  if (state.current?.id === id) return;
  const conv = viewFor(id);
  show(conv);
  attach(conv);
  focusComposer();
}

function newChat() {
  const current = state.current;
  if (!current.id && current.root.childElementCount === 0) {
    focusComposer();
    return;
  }
  const conv = newConversation();
  show(conv);
  if (request({ type: "new", tz: timeZone() })) {
    conv.creating = true;
    state.createQueue.push(conv);
  }
  focusComposer();
}

// --- receiving ----------------------------------------------------------------------------------------

function onOpen(generation) {
  request({ type: "sessions" });
  // A create that was in flight on the old socket never got its reply: its first message is
  // offered for resending, the ones typed after it are sent with the outbox.
  for (const conv of state.createQueue) {
    conv.creating = false;
    conversation.failUnacknowledged(conv, generation);
    state.outbox.push(...conv.waiting.splice(0).map((frame) => ({ conv, frame })));
  }
  state.createQueue = [];
  attach(state.current);
  flushOutbox();
}

const handlers = createHandlers({
  state,
  show,
  newConversation,
  viewFor,
  transmit,
  request,
  attach,
  setHash,
  renderChrome,
  renderPanels,
  renderSidebar,
  refreshSessionsSoon,
  onConversationChanged,
  scrollToBottom,
  flushUploads,
});

/** Every frame from the server: drop timeline duplicates, then dispatch by type. */
function onEvent(event) {
  if (event.seq !== null && event.seq !== undefined && event.session_id) {
    const conv = state.views.get(event.session_id);
    if (!conv) return;
    if (event.seq <= conv.lastSeq) return;
    conv.lastSeq = event.seq;
  }
  dispatch(event, handlers);
}

// --- start ------------------------------------------------------------------------------------------

function onConversationChanged(conv) {
  if (conv === state.current) follow();
}

function initConversationActions() {
  const host = byId("conversation");
  installCopyButtons(host);
  host.addEventListener("resend", (event) => {
    const bubble = event.target.closest(".msg--user");
    const text = bubble?.querySelector(".msg__text")?.textContent;
    if (!text) return;
    bubble.remove();
    sendMessage(text);
  });
  host.addEventListener("copy-text", async (event) => {
    const { text, button } = event.detail;
    const ok = await copyText(text);
    const label = button.querySelector("span");
    if (label) label.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => {
      if (label) label.textContent = "Copy";
    }, 1500);
  });
}

/** Boot: show the session named in the URL (replayed from seq 0) or an empty chat, then connect. */
export function startApp() {
  initScrolling();
  initConversationActions();
  byId("new-chat").addEventListener("click", () => {
    newChat();
    if (isNarrow()) closeDrawers();
  });
  byId("retry-button").addEventListener("click", () => state.conn?.retryNow());
  window.addEventListener("hashchange", onHashChange);
  const id = hashSession();
  const first = id ? viewFor(id) : newConversation();
  if (id) first.loading = true;
  show(first);
  state.conn = createConnection({ url: socketUrl(), onOpen, onEvent, onStatus: renderStatus });
  setInterval(() => {
    refreshSessionTimes();
    refreshReminderTimes(state.current?.reminders);
  }, 30000);
  window.__agentchat = { state, unknownTypes, send: request, messageCount: () => conversation.messageCount(state.current) };
}

export const composerActions = { onSend: sendMessage, onStop: stop, onEscape };
export const uploadActions = { onFiles: uploadFiles };
export const transferActions = { onImport: importChat };
export const panelActions = { send: sendPanelRequest };
