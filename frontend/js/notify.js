// Toasts, and desktop notifications for reminders (permission asked from the bell button).

import { byId, h } from "./dom.js";
import { icon, setIcon } from "./icons.js";

const KEY = "agentchat.notifications";

/** A toast in the corner: {title, body, kind: "info"|"error"|"reminder", timeout ms (0 = sticky)}. */
export function showToast({ title, body = "", kind = "info", timeout = 6000 }) {
  const close = h("button", { type: "button", class: "icon-btn icon-btn--small toast__close", "aria-label": "Dismiss" }, icon("x", { size: 14 }));
  const iconName = kind === "error" ? "alert" : kind === "reminder" ? "clock" : "check";
  const toast = h(
    "div",
    { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast__icon", "aria-hidden": "true" }, icon(iconName, { size: 16 })),
    h("div", { class: "toast__text" }, h("strong", { class: "toast__title", text: title }), body ? h("span", { class: "toast__body", text: body }) : null),
    close,
  );
  const dismiss = () => {
    toast.classList.add("is-leaving");
    setTimeout(() => toast.remove(), 180);
  };
  close.addEventListener("click", dismiss);
  byId("toasts").append(toast);
  if (timeout) setTimeout(dismiss, timeout);
  return toast;
}

function wanted() {
  try {
    return localStorage.getItem(KEY) !== "off";
  } catch {
    return true;
  }
}

export function enabled() {
  return "Notification" in window && Notification.permission === "granted" && wanted();
}

function renderBell() {
  const button = byId("notify-toggle");
  if (!button) return;
  const supported = "Notification" in window;
  const on = enabled();
  button.setAttribute("aria-pressed", String(on));
  const label = !supported
    ? "Notifications are not supported in this browser"
    : Notification.permission === "denied"
      ? "Notifications are blocked in the browser settings"
      : on
        ? "Reminder notifications on (click to turn off)"
        : "Turn on reminder notifications";
  button.setAttribute("aria-label", label);
  button.title = label;
  setIcon(button, on ? "bell" : "bell-off");
}

/** The bell button: asks for permission on the click (a user gesture), toggles afterwards. */
export function initNotifications() {
  const button = byId("notify-toggle");
  renderBell();
  button?.addEventListener("click", async () => {
    if (!("Notification" in window)) return;
    if (Notification.permission === "default") {
      await Notification.requestPermission();
      try {
        localStorage.setItem(KEY, "on");
      } catch {
        // ignore
      }
    } else if (Notification.permission === "granted") {
      try {
        localStorage.setItem(KEY, wanted() ? "off" : "on");
      } catch {
        // ignore
      }
    } else {
      showToast({ title: "Notifications are blocked", body: "Allow them for this site in the browser settings.", kind: "error" });
    }
    renderBell();
  });
}

/** A reminder fired: toast always, desktop notification when allowed. */
export function notifyReminder(event) {
  const late = event.late ? "Delivered late: it was due while the server was down." : "";
  showToast({ title: `Reminder: ${event.message}`, body: late, kind: "reminder", timeout: 12000 });
  if (!enabled()) return;
  try {
    const note = new Notification("Reminder", { body: String(event.message), tag: `reminder-${event.key ?? event.reminder_id}` });
    note.addEventListener("click", () => window.focus());
  } catch {
    // some platforms only allow notifications from a service worker
  }
}
