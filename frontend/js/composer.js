// The message box: Enter sends, Shift+Enter adds a line, Esc stops the running reply; the Stop
// button and the queued-messages line follow the current session's state.

import { byId } from "./dom.js";

const MAX_CHARS = 32000;

/** Wire the composer. onSend(text) -> bool (false keeps the text); onStop(); onEscape() -> bool handled. */
export function initComposer({ onSend, onStop, onEscape }) {
  const form = byId("composer-form");
  const input = byId("composer-input");
  const send = byId("send-button");

  const sync = () => {
    autosize(input);
    send.disabled = input.value.trim().length === 0;
  };
  const submit = () => {
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      input.setCustomValidity(`Messages are limited to ${MAX_CHARS.toLocaleString()} characters.`);
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    if (onSend(text) !== false) {
      input.value = "";
      sync();
    }
  };

  input.addEventListener("input", sync);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    // isComposing: Enter that confirms an IME candidate (Chinese, Japanese…) must not send
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  byId("stop-button").addEventListener("click", onStop);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (onEscape()) event.preventDefault();
  });
  for (const chip of document.querySelectorAll("#suggestions .chip")) {
    chip.addEventListener("click", () => {
      input.value = chip.textContent;
      sync();
      input.focus();
    });
  }
  sync();
}

function autosize(input) {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, Math.round(window.innerHeight * 0.4))}px`;
}

/** Show Stop while a turn runs, and how many messages wait behind it. */
export function renderRunState({ running, queued }) {
  byId("stop-button").hidden = !running;
  const line = byId("queue-indicator");
  line.hidden = queued <= 0;
  line.textContent = queued > 0 ? `${queued} message${queued === 1 ? "" : "s"} queued: ${queued === 1 ? "it runs" : "they run"} after the current reply` : "";
  document.documentElement.dataset.running = running ? "yes" : "no";
}

export function focusComposer() {
  byId("composer-input").focus({ preventScroll: true });
}
