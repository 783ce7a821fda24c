// The WebSocket: connect, reconnect forever with capped exponential backoff and full jitter,
// report status. Resuming sessions is the caller's job (onOpen is called after every connect).

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const MIN_DELAY_MS = 100;

/**
 * The socket URL for this page: same host, ws(s) matching http(s), under the page's own
 * directory (works behind a reverse-proxy path prefix), carrying ?token= if the page has one.
 */
export function socketUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss://" : "ws://";
  const dir = loc.pathname.replace(/[^/]*$/, "");
  const token = new URLSearchParams(loc.search).get("token");
  return `${scheme}${loc.host}${dir}ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}

/** Full-jitter backoff: uniform in [0, min(cap, base * 2^attempt)], with a small floor. */
export function backoffDelay(attempt, { base = BASE_DELAY_MS, cap = MAX_DELAY_MS, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.max(MIN_DELAY_MS, Math.round(random() * ceiling));
}

/**
 * createConnection({url, onOpen, onEvent, onStatus}) -> {send, retryNow, isOpen, generation}
 *
 * onStatus receives {state: "connecting"|"online"|"offline", attempt, retryAt (ms epoch)}.
 * `generation` counts successful connects, so callers can tell frames sent on an older socket.
 */
export function createConnection({ url, onOpen, onEvent, onStatus }) {
  let socket = null;
  let attempt = 0;
  let timer = null;
  let generation = 0;

  function connect() {
    clearTimeout(timer);
    timer = null;
    onStatus({ state: "connecting", attempt });
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      console.error("agentchat: cannot open the socket", error);
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      generation += 1;
      onStatus({ state: "online", attempt });
      onOpen(generation);
    });
    ws.addEventListener("message", (message) => receive(message.data));
    ws.addEventListener("close", (close) => {
      if (socket !== ws) return;
      socket = null;
      if (close.code === 1008) console.warn("agentchat: closed by the server:", close.reason);
      scheduleReconnect();
    });
  }

  function receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      console.warn("agentchat: ignoring a frame that is not JSON");
      return;
    }
    if (event && typeof event === "object") onEvent(event);
  }

  function scheduleReconnect() {
    const delay = backoffDelay(attempt);
    attempt += 1;
    onStatus({ state: "offline", attempt, retryAt: Date.now() + delay });
    timer = setTimeout(connect, delay);
  }

  function retryNow() {
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    connect();
  }

  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function send(frame) {
    if (!isOpen()) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !socket) retryNow();
  });
  connect();
  return { send, retryNow, isOpen, get generation() { return generation; } };
}
