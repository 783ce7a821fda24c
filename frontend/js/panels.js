// The todos and reminders panels: live lists driven by `todos` / `reminders` events, with forms
// that send todo_* and reminder_* requests. Nothing here changes a list locally: the server's
// event is the truth, so every open tab shows the same thing.

import { byId, editInPlace, h } from "./dom.js";
import { icon } from "./icons.js";
import { shortDateTime, untilTime } from "./util.js";

/**
 * Wire the panel forms once. send(frame) sends a request for the current session and returns
 * false when there is no session yet.
 */
export function initPanels({ send }) {
  const todoForm = byId("todo-form");
  const todoInput = byId("todo-input");
  todoForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const title = todoInput.value.trim();
    if (title && send({ type: "todo_add", title })) todoInput.value = "";
  });

  const reminderForm = byId("reminder-form");
  const reminderMessage = byId("reminder-message");
  const reminderWhen = byId("reminder-when");
  reminderForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = reminderMessage.value.trim();
    const when = reminderWhen.value.trim();
    if (!message) return reminderMessage.focus();
    if (!when) return reminderWhen.focus();
    if (send({ type: "reminder_add", when, message })) {
      reminderMessage.value = "";
      reminderWhen.value = "";
    }
    return undefined;
  });
}

/** Enable or disable the forms (no session yet: nothing to attach a todo to). */
export function setPanelsEnabled(enabled) {
  for (const control of document.querySelectorAll("#todo-form input, #todo-form button, #reminder-form input, #reminder-form button")) {
    control.disabled = !enabled;
  }
}

// --- todos ------------------------------------------------------------------------------------------

function todoMeta(todo) {
  const bits = [];
  if (todo.due) bits.push(`due ${shortDateTime(todo.due)}`);
  if (todo.priority && todo.priority !== "normal") bits.push(todo.priority);
  return bits.join(" · ");
}

function todoItem(todo, send) {
  const done = todo.status === "done";
  const checkbox = h("input", {
    type: "checkbox",
    class: "todo__check",
    checked: done,
    "aria-label": `${done ? "Reopen" : "Complete"} “${todo.title}”`,
  });
  checkbox.addEventListener("change", () => {
    checkbox.disabled = true;
    send(checkbox.checked ? { type: "todo_complete", todo_id: todo.id } : { type: "todo_update", todo_id: todo.id, status: "open" });
  });
  const title = h("span", { class: "todo__title", text: todo.title });
  const meta = todoMeta(todo);
  const text = h("div", { class: "todo__text" }, title, meta ? h("span", { class: `todo__meta${todo.priority === "high" ? " is-high" : ""}`, text: meta }) : null);
  const edit = h("button", { type: "button", class: "icon-btn icon-btn--small", "aria-label": `Edit “${todo.title}”` }, icon("pencil", { size: 14 }));
  const remove = h("button", { type: "button", class: "icon-btn icon-btn--small icon-btn--danger", "aria-label": `Delete “${todo.title}”` }, icon("trash", { size: 14 }));
  const item = h("li", { class: `todo${done ? " todo--done" : ""}`, dataset: { todoId: String(todo.id) } }, checkbox, text, h("div", { class: "todo__actions" }, edit, remove));
  edit.addEventListener("click", () => startEditing(item, todo, send));
  title.addEventListener("dblclick", () => startEditing(item, todo, send));
  remove.addEventListener("click", () => {
    remove.disabled = true;
    send({ type: "todo_delete", todo_id: todo.id });
  });
  return item;
}

function startEditing(item, todo, send) {
  const attrs = { class: "todo__edit", "aria-label": "Todo title" };
  editInPlace(item.querySelector(".todo__text"), todo.title, attrs, (title) => send({ type: "todo_update", todo_id: todo.id, title }));
}

/** Render the todo list: open ones first, then done ones. */
export function renderTodos(todos, send) {
  const list = byId("todo-list");
  const sorted = [...(todos || [])].sort((a, b) => (a.status === "done") - (b.status === "done") || a.id - b.id);
  list.replaceChildren(...sorted.map((todo) => todoItem(todo, send)));
  const open = sorted.filter((t) => t.status !== "done").length;
  byId("todo-empty").hidden = sorted.length > 0;
  byId("todo-count").textContent = sorted.length ? `${open} open` : "";
  return open;
}

// --- reminders ----------------------------------------------------------------------------------------

function reminderItem(reminder, send) {
  const cancel = h("button", { type: "button", class: "icon-btn icon-btn--small icon-btn--danger", "aria-label": `Cancel reminder “${reminder.message}”` }, icon("x", { size: 14 }));
  cancel.addEventListener("click", () => {
    cancel.disabled = true;
    send({ type: "reminder_cancel", reminder_id: reminder.id });
  });
  const when = h("span", { class: "reminder__when", dataset: { dueAt: String(reminder.due_at ?? "") } });
  fillWhen(when, reminder);
  return h(
    "li",
    { class: "reminder", dataset: { reminderId: String(reminder.id) } },
    h("span", { class: "reminder__icon", "aria-hidden": "true" }, icon("clock", { size: 15 })),
    h("div", { class: "reminder__text" }, h("span", { class: "reminder__message", text: reminder.message }), when),
    cancel,
  );
}

function fillWhen(el, reminder) {
  const parts = [];
  if (reminder.due_at) parts.push(untilTime(reminder.due_at));
  if (reminder.due) parts.push(shortDateTime(reminder.due));
  if (reminder.repeat) parts.push(`repeats ${reminder.repeat}`);
  el.textContent = parts.join(" · ");
}

/** Render the scheduled reminders, soonest first. */
export function renderReminders(reminders, send) {
  const list = byId("reminder-list");
  const scheduled = (reminders || []).filter((r) => !r.status || r.status === "scheduled");
  scheduled.sort((a, b) => (a.due_at ?? 0) - (b.due_at ?? 0));
  list.replaceChildren(...scheduled.map((r) => reminderItem(r, send)));
  byId("reminder-empty").hidden = scheduled.length > 0;
  byId("reminder-count").textContent = scheduled.length ? String(scheduled.length) : "";
  return scheduled.length;
}

/** Refresh the "in 5 min" labels (called by a timer). */
export function refreshReminderTimes(reminders) {
  const byIdMap = new Map((reminders || []).map((r) => [String(r.id), r]));
  for (const item of document.querySelectorAll("#reminder-list .reminder")) {
    const reminder = byIdMap.get(item.dataset.reminderId);
    if (reminder) fillWhen(item.querySelector(".reminder__when"), reminder);
  }
}
