// Tiny DOM helpers. Text always goes in as text nodes; nothing here parses HTML.

/**
 * Create an element: h("button", {class: "btn", type: "button", onclick: fn, "aria-label": "Copy"}, "Copy").
 * Attributes named on* become listeners, `dataset` is merged, `text` sets textContent.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

/** Append strings (as text) and nodes, skipping null/false. */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * Edit a short text in place: `shown` is swapped for a text input holding `value` (`attrs` adds its
 * class and label). Enter or leaving the field saves, Escape cancels; either way `shown` comes back.
 * `save(next)` runs only for a non-empty, changed value.
 */
export function editInPlace(shown, value, attrs, save) {
  const input = h("input", { type: "text", value, maxlength: "200", ...attrs });
  let finished = false; // replaceWith() blurs the input, which would call finish() again
  const finish = (keep) => {
    if (finished) return;
    finished = true;
    const next = input.value.trim();
    input.replaceWith(shown);
    if (keep && next && next !== value) save(next);
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(true));
  shown.replaceWith(input);
  input.focus();
  input.select();
}

export function byId(id) {
  return document.getElementById(id);
}

/** Say something to screen-reader users through the polite live region. */
export function announce(text) {
  const region = byId("announcer");
  if (!region) return;
  const line = h("p", { text });
  region.append(line);
  while (region.childElementCount > 5) region.firstElementChild.remove();
}
