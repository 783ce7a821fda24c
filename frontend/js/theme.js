// Light/dark theme: follows the system (prefers-color-scheme) unless the user picked one; the
// choice is kept in localStorage. Colours come from CSS light-dark(); the code theme stylesheets
// are switched with their media attribute.

import { byId } from "./dom.js";
import { setIcon } from "./icons.js";

const KEY = "agentchat.theme";
const ORDER = ["system", "light", "dark"];
const ICONS = { system: "monitor", light: "sun", dark: "moon" };

export function storedTheme() {
  try {
    const value = localStorage.getItem(KEY);
    return ORDER.includes(value) ? value : "system";
  } catch {
    return "system";
  }
}

/** Apply a theme choice ("system", "light" or "dark") to the page. */
export function applyTheme(choice) {
  const root = document.documentElement;
  if (choice === "system") delete root.dataset.theme;
  else root.dataset.theme = choice;
  const light = byId("hljs-light");
  const dark = byId("hljs-dark");
  if (light && dark) {
    light.media = choice === "system" ? "(prefers-color-scheme: light)" : choice === "light" ? "all" : "not all";
    dark.media = choice === "system" ? "(prefers-color-scheme: dark)" : choice === "dark" ? "all" : "not all";
  }
  const button = byId("theme-toggle");
  if (button) {
    button.setAttribute("aria-label", `Theme: ${choice} (click to change)`);
    button.title = `Theme: ${choice}`;
    setIcon(button, ICONS[choice]);
  }
}

export function initTheme() {
  applyTheme(storedTheme());
  byId("theme-toggle")?.addEventListener("click", () => {
    const next = ORDER[(ORDER.indexOf(storedTheme()) + 1) % ORDER.length];
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // private mode: the choice lasts for this page only
    }
    applyTheme(next);
  });
}
