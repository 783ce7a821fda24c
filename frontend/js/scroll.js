// Keep the conversation pinned to its end while new content arrives, unless the reader
// scrolled up: then a "New messages" button offers the way back.

import { byId } from "./dom.js";

const NEAR_BOTTOM_PX = 80;
let pinned = true;

export function isNearBottom() {
  const s = byId("scroller");
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
}

export function scrollToBottom() {
  const s = byId("scroller");
  s.scrollTop = s.scrollHeight;
  byId("jump-button").hidden = true;
}

/** Pin (the user sent something) or recompute from the scroll position. */
export function setPinned(value = isNearBottom()) {
  pinned = value;
}

/** New content: follow it when pinned, else show the jump button. */
export function follow() {
  if (pinned) scrollToBottom();
  else byId("jump-button").hidden = false;
}

export function initScrolling() {
  byId("scroller").addEventListener(
    "scroll",
    () => {
      pinned = isNearBottom();
      if (pinned) byId("jump-button").hidden = true;
    },
    { passive: true },
  );
  byId("jump-button").addEventListener("click", () => {
    pinned = true;
    scrollToBottom();
  });
}
