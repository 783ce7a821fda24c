// The sessions sidebar: list (title, relative last activity), switch, rename, delete, and the
// drawer behaviour on narrow screens.

import { byId, editInPlace, h } from "./dom.js";
import { icon } from "./icons.js";
import { relativeTime } from "./util.js";

const NARROW = "(max-width: 899px)";

/**
 * renderSessions(list, {currentId, unread, onSelect, onRename, onDelete})
 * `list` is the `sessions` reply's array; the current session is highlighted.
 */
export function renderSessions(list, { currentId, unread, onSelect, onRename, onDelete }) {
  const ul = byId("session-list");
  const sorted = [...(list || [])].sort((a, b) => (b.updated_at ?? 0) - (a.updated_at ?? 0));
  ul.replaceChildren(...sorted.map((s) => sessionItem(s, { currentId, unread, onSelect, onRename, onDelete })));
  byId("session-empty").hidden = sorted.length > 0;
}

function sessionItem(session, { currentId, unread, onSelect, onRename, onDelete }) {
  const id = session.session_id;
  const title = session.title || "New chat";
  const current = id === currentId;
  const select = h(
    "button",
    { type: "button", class: "session__select", "aria-current": current ? "page" : null },
    h("span", { class: "session__title", text: title }),
    h(
      "span",
      { class: "session__meta" },
      session.running ? h("span", { class: "session__running", "aria-label": "replying" }) : null,
      unread?.has(id) && !current ? h("span", { class: "session__unread", "aria-label": "new activity" }) : null,
      h("span", { class: "session__time", dataset: { ts: String(session.updated_at ?? "") }, text: relativeTime(session.updated_at) }),
    ),
  );
  select.addEventListener("click", () => onSelect(id));
  const rename = h("button", { type: "button", class: "icon-btn icon-btn--small", "aria-label": `Rename “${title}”` }, icon("pencil", { size: 14 }));
  const remove = h("button", { type: "button", class: "icon-btn icon-btn--small icon-btn--danger", "aria-label": `Delete “${title}”` }, icon("trash", { size: 14 }));
  const item = h("li", { class: `session${current ? " is-current" : ""}`, dataset: { sessionId: id } }, select, h("div", { class: "session__actions" }, rename, remove));
  rename.addEventListener("click", () => startRename(item, title, (value) => onRename(id, value)));
  remove.addEventListener("click", () => {
    if (window.confirm(`Delete “${title}” and everything stored with it?`)) onDelete(id);
  });
  return item;
}

function startRename(item, title, commit) {
  const select = item.querySelector(".session__select");
  editInPlace(select, title, { class: "session__rename", "aria-label": "Conversation title" }, (value) => {
    select.querySelector(".session__title").textContent = value;
    commit(value);
  });
}

/** Update the "5 min ago" labels (timer). */
export function refreshSessionTimes() {
  for (const el of document.querySelectorAll("#session-list .session__time")) {
    el.textContent = relativeTime(Number(el.dataset.ts) || 0);
  }
}

// --- drawers (sidebar on the left, panels on the right) --------------------------------------------

export function isNarrow() {
  return window.matchMedia(NARROW).matches;
}

/** Open/close a drawer: toggles a class on #app, aria-expanded on its button, and the scrim. */
export function setDrawer(name, open) {
  const app = byId("app");
  app.classList.toggle(`${name}-open`, open);
  const toggle = byId(`${name}-toggle`);
  if (toggle) toggle.setAttribute("aria-expanded", String(open));
  byId("scrim").hidden = !(app.classList.contains("sidebar-open") || app.classList.contains("panels-open"));
  if (open) {
    const target = name === "sidebar" ? byId("new-chat") : byId("todo-input");
    target?.focus({ preventScroll: true });
  }
}

export function closeDrawers() {
  setDrawer("sidebar", false);
  setDrawer("panels", false);
}

export function drawerOpen() {
  const app = byId("app");
  return app.classList.contains("sidebar-open") || app.classList.contains("panels-open");
}

export function initDrawers() {
  byId("sidebar-toggle").addEventListener("click", () => setDrawer("sidebar", !byId("app").classList.contains("sidebar-open")));
  byId("sidebar-close").addEventListener("click", () => setDrawer("sidebar", false));
  byId("panels-toggle").addEventListener("click", () => setDrawer("panels", !byId("app").classList.contains("panels-open")));
  byId("panels-close").addEventListener("click", () => setDrawer("panels", false));
  byId("scrim").addEventListener("click", closeDrawers);
}
