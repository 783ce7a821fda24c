// Markdown -> sanitized DOM. Every string from the model or a tool that is rendered as markup goes
// through DOMPurify here; everything else is set with textContent.

import { marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.js";
import hljs from "../vendor/highlight.es.min.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";

const PURIFY_OPTIONS = {
  RETURN_DOM_FRAGMENT: true,
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "button", "textarea", "select", "option", "iframe", "object", "embed"],
  FORBID_ATTR: ["style", "id", "name"],
};

marked.setOptions({ gfm: true, breaks: true });

let hooksInstalled = false;

/** Links open in a new tab without access to this page; task-list checkboxes stay inert. */
function installSanitizerHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      if (node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    } else if (node.tagName === "INPUT") {
      if (node.getAttribute("type") !== "checkbox") node.remove();
      else node.setAttribute("disabled", "");
    }
  });
}

/** Sanitize an HTML string into a DocumentFragment (never a string). */
export function sanitize(html) {
  installSanitizerHooks();
  return DOMPurify.sanitize(html, PURIFY_OPTIONS);
}

/** Markdown text -> sanitized fragment with highlighted, copyable code blocks and scrollable tables. */
export function renderMarkdown(text) {
  const fragment = sanitize(marked.parse(String(text ?? "")));
  for (const code of fragment.querySelectorAll("pre > code")) decorateCode(code);
  for (const table of fragment.querySelectorAll("table")) {
    const wrap = h("div", { class: "table-wrap" });
    table.replaceWith(wrap);
    wrap.append(table);
  }
  return fragment;
}

/** Re-render a Markdown element in place (same element: no flicker, no layout jump of siblings). */
export function renderInto(element, text) {
  element.replaceChildren(renderMarkdown(text));
}

function languageOf(code) {
  const match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
  return match ? match[1].toLowerCase() : "";
}

/** Highlight one <pre><code> (through the sanitizer) and give it a header with language + copy. */
function decorateCode(code) {
  const pre = code.parentElement;
  const language = languageOf(code);
  const source = code.textContent;
  code.classList.add("hljs");
  if (language && hljs.getLanguage(language)) {
    const result = hljs.highlight(source, { language, ignoreIllegals: true });
    code.replaceChildren(sanitize(result.value));
  }
  const bar = h(
    "div",
    { class: "code__bar" },
    h("span", { class: "code__lang", text: language || "text" }),
    h(
      "button",
      { type: "button", class: "code__copy", "aria-label": `Copy ${language || "code"} to the clipboard` },
      icon("copy", { size: 14 }),
      h("span", { class: "code__copy-label", text: "Copy" }),
    ),
  );
  const wrap = h("div", { class: "code" });
  pre.replaceWith(wrap);
  wrap.append(bar, pre);
}

/** Highlight a JSON value (tool arguments) as a sanitized fragment. */
export function highlightJson(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return sanitize(hljs.highlight(text ?? "", { language: "json", ignoreIllegals: true }).value);
}

/** Copy text: the async clipboard API where allowed, else a hidden textarea (plain-http pages). */
export async function copyText(text) {
  window.__agentchatLastCopy = text; // lets tests and tools see what was copied
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the legacy path
  }
  const area = h("textarea", { class: "sr-only", "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** Click handler for every `.code__copy` button under root (delegated, survives re-renders). */
export function installCopyButtons(root) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest(".code__copy");
    if (!button || !root.contains(button)) return;
    const code = button.closest(".code")?.querySelector("pre code");
    if (!code) return;
    const ok = await copyText(code.textContent);
    const label = button.querySelector(".code__copy-label");
    button.classList.toggle("is-copied", ok);
    if (label) label.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => {
      button.classList.remove("is-copied");
      if (label) label.textContent = "Copy";
    }, 1500);
  });
}
