// File uploads: the paper-clip button and drag-and-drop onto the chat POST each file to
// /v1/sessions/{id}/files (multipart/form-data, field "file"). The page shows nothing by itself:
// the server's `file` timeline event puts the file in the conversation (conversation.onFile).

import { apiBase, apiPost } from "./api.js";
import { byId } from "./dom.js";

/** The files route of a session, under the page's own directory (works behind a path prefix). */
export function filesUrl(sessionId, loc = window.location) {
  return `${apiBase(loc)}v1/sessions/${encodeURIComponent(sessionId)}/files`;
}

/** "1.2 KiB": a file size for people. */
export function formatBytes(size) {
  const n = Number(size) || 0;
  if (n < 1024) return `${n} byte${n === 1 ? "" : "s"}`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** POST one file; resolves to {ok, status, body} (body: the server's JSON, or {error} text). */
export async function postFile(sessionId, file, loc = window.location) {
  const form = new FormData();
  form.append("file", file, file.name);
  return apiPost(filesUrl(sessionId, loc), form, { what: "the upload", loc });
}

/** The line above the message box while files are being sent. */
export function renderUploadStatus(text) {
  const line = byId("upload-status");
  line.hidden = !text;
  line.textContent = text || "";
}

function hasFiles(event) {
  return Array.from(event.dataTransfer?.types || []).includes("Files");
}

/** Wire the paper-clip button, its file input and the drop zone (the chat column). onFiles(File[]). */
export function initUploads({ onFiles }) {
  const input = byId("file-input");
  byId("attach-button").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const files = Array.from(input.files || []);
    input.value = ""; // the same file can be chosen again
    if (files.length) onFiles(files);
  });
  const zone = byId("chat");
  let depth = 0; // dragenter/dragleave fire for every child crossed
  zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("is-dropping");
  });
  zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove("is-dropping");
  });
  zone.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove("is-dropping");
    const files = Array.from(event.dataTransfer.files || []);
    if (files.length) onFiles(files);
  });
}
