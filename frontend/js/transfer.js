// Export and import of sessions: the topbar's Export menu links to
// /v1/sessions/{id}/export?format=json|markdown (the server answers a download), and the sidebar's
// "Import chat" button POSTs a chosen export file to /v1/sessions/import, which creates a NEW
// session with the same history; the page then switches to it.

import { apiBase, apiPost, pageToken } from "./api.js";
import { byId } from "./dom.js";

/** The export route of a session; a link cannot send headers, so a page token rides as ?token=. */
export function exportUrl(sessionId, format, loc = window.location) {
  const query = new URLSearchParams({ format });
  const key = pageToken(loc);
  if (key) query.set("token", key);
  return `${apiBase(loc)}v1/sessions/${encodeURIComponent(sessionId)}/export?${query}`;
}

/** POST an export file's text as JSON; resolves to {ok, status, body} (body: the server's JSON). */
export async function postImport(file, loc = window.location) {
  const headers = { "Content-Type": "application/json" };
  return apiPost(`${apiBase(loc)}v1/sessions/import`, file, { headers, what: "the file", loc });
}

/** Point the Export menu at the session on screen; hidden while the chat has no session yet. */
export function renderExportMenu(sessionId) {
  const menu = byId("export-menu");
  menu.hidden = !sessionId;
  if (!sessionId) {
    menu.open = false;
    return;
  }
  byId("export-json").href = exportUrl(sessionId, "json");
  byId("export-markdown").href = exportUrl(sessionId, "markdown");
}

/** Wire the Export menu and the Import button. onImport(File) does the import. */
export function initTransfer({ onImport }) {
  const menu = byId("export-menu");
  for (const id of ["export-json", "export-markdown"]) {
    byId(id).addEventListener("click", () => { menu.open = false; });
  }
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
  const input = byId("import-input");
  byId("import-button").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = ""; // the same file can be chosen again
    if (file) onImport(file);
  });
}
