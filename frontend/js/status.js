// The connection indicator: connecting / online / offline with a countdown, and "Retry now".

import { byId } from "./dom.js";

const RETRY_BUTTON_AFTER_ATTEMPTS = 2;

let countdown = null;

/** Show a connection status from createConnection's onStatus. */
export function renderStatus(status) {
  const box = byId("conn-status");
  const text = byId("conn-text");
  const retry = byId("retry-button");
  clearInterval(countdown);
  countdown = null;
  box.dataset.state = status.state;
  document.documentElement.dataset.connection = status.state;
  if (status.state === "online") {
    text.textContent = "Online";
    retry.hidden = true;
    return;
  }
  if (status.state === "connecting") {
    text.textContent = status.attempt ? "Reconnecting…" : "Connecting…";
    return;
  }
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
    text.textContent = seconds > 0 ? `Offline · reconnecting in ${seconds}s` : "Offline · reconnecting…";
  };
  tick();
  countdown = setInterval(tick, 500);
  retry.hidden = status.attempt < RETRY_BUTTON_AFTER_ATTEMPTS;
}
