// Workflow run cards: the run's graph drawn with Mermaid (served from /vendor/, loaded only when
// the first card appears), each node's live status, and its output on click (in the graph or in
// the node list below it). Built from `workflow_run` / `node_run` events, live or replayed.

import { h } from "./dom.js";

const MERMAID_SRC = "/vendor/mermaid.min.js";
const STATUSES = ["queued", "running", "completed", "failed", "skipped"];
let mermaidReady = null;
let renderCounter = 0;

/** Load the Mermaid bundle once (a classic script: it defines window.mermaid). */
function loadMermaid() {
  if (!mermaidReady) {
    mermaidReady = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = MERMAID_SRC;
      script.onload = () => {
        const dark = document.documentElement.dataset.theme === "dark"
          || (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
        window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "neutral" });
        resolve(window.mermaid);
      };
      script.onerror = () => reject(new Error("could not load Mermaid"));
      document.head.append(script);
    });
  }
  return mermaidReady;
}

/** Mermaid flowchart text for a graph: nodes are n0, n1… (ids with '-' are not Mermaid names). */
export function mermaidSource(graph, statuses) {
  const ids = new Map();
  const lines = ["flowchart TD"];
  (graph.nodes || []).forEach((node, index) => {
    const key = `n${index}`;
    ids.set(node.id, key);
    const label = `${node.id}<br/><small>${node.type}</small>`.replace(/"/g, "'");
    lines.push(`  ${key}["${label}"]`);
  });
  for (const edge of graph.edges || []) {
    const from = ids.get(edge.source);
    const to = ids.get(edge.target);
    if (!from || !to) continue;
    lines.push(edge.condition ? `  ${from} -->|${edge.condition}| ${to}` : `  ${from} --> ${to}`);
  }
  lines.push(
    "  classDef queued fill:#f4f4f5,stroke:#a1a1aa,color:#3f3f46",
    "  classDef running fill:#e0e7ff,stroke:#4f46e5,stroke-width:2px,color:#1e1b4b",
    "  classDef completed fill:#dcfce7,stroke:#15803d,color:#14532d",
    "  classDef failed fill:#fee2e2,stroke:#c62828,stroke-width:2px,color:#7f1d1d",
    "  classDef skipped fill:#fafafa,stroke:#d4d4d8,stroke-dasharray:4 3,color:#a1a1aa",
  );
  for (const [nodeId, key] of ids) {
    const status = statuses.get(nodeId);
    if (STATUSES.includes(status)) lines.push(`  class ${key} ${status}`);
  }
  return { text: lines.join("\n"), ids };
}

/** A card for a run's first `workflow_run` event (it carries the graph). */
export function createRunCard(event) {
  const graph = event.graph || { nodes: [], edges: [] };
  const card = h("section", {
    class: "run-card",
    dataset: { runId: String(event.run_id), status: String(event.status || "running") },
    "aria-label": `Workflow ${event.name || event.workflow_id}`,
  });
  const state = { graph, statuses: new Map(), outputs: new Map(), selected: null, frame: 0, card };
  for (const node of graph.nodes || []) state.statuses.set(node.id, "queued");
  const status = h("span", { class: "run-card__status", text: String(event.status || "running") });
  const header = h(
    "header",
    { class: "run-card__header" },
    h("span", { class: "run-card__title", text: `Workflow ${event.name || event.workflow_id}` }),
    h("span", { class: "run-card__version", text: `v${event.version ?? "?"}` }),
    status,
  );
  const diagram = h("div", { class: "run-card__graph", "aria-hidden": "true" });
  const list = h("ol", { class: "run-card__nodes" });
  for (const node of graph.nodes || []) {
    const item = h(
      "li",
      { class: "run-node", dataset: { nodeId: node.id, status: "queued" } },
      h(
        "button",
        { type: "button", class: "run-node__button", onclick: () => select(state, node.id) },
        h("span", { class: "run-node__id", text: node.id }),
        h("span", { class: "run-node__type", text: node.type }),
        h("span", { class: "run-node__status", text: "queued" }),
      ),
    );
    list.append(item);
  }
  const output = h("div", { class: "run-card__output", hidden: true },
    h("div", { class: "run-card__output-title" }), h("pre", { class: "run-card__output-text" }));
  const footer = h("div", { class: "run-card__footer" });
  card.append(header, diagram, list, output, footer);
  card.runState = state;
  scheduleDraw(state);
  return card;
}

/** Apply a later `workflow_run` event (the end of the run). */
export function applyRunEvent(card, event) {
  const status = String(event.status || "");
  card.dataset.status = status;
  card.querySelector(".run-card__status").textContent = status;
  const footer = card.querySelector(".run-card__footer");
  footer.textContent = event.error ? `Error: ${event.error}` : "";
}

/** Apply a `node_run` event: live status in the graph and the list, output kept for a click. */
export function applyNodeEvent(card, event) {
  const state = card.runState;
  const nodeId = String(event.node_id);
  const status = String(event.status);
  state.statuses.set(nodeId, status);
  if (event.output !== undefined || event.error) state.outputs.set(nodeId, { output: event.output, error: event.error, status });
  const item = card.querySelector(`.run-node[data-node-id="${CSS.escape(nodeId)}"]`);
  if (item) {
    item.dataset.status = status;
    item.querySelector(".run-node__status").textContent = status;
  }
  if (state.selected === nodeId) showOutput(state, nodeId);
  scheduleDraw(state);
}

function select(state, nodeId) {
  state.selected = state.selected === nodeId ? null : nodeId;
  for (const item of state.card.querySelectorAll(".run-node")) {
    item.classList.toggle("is-selected", item.dataset.nodeId === state.selected);
  }
  showOutput(state, state.selected);
}

function showOutput(state, nodeId) {
  const panel = state.card.querySelector(".run-card__output");
  if (!nodeId) {
    panel.hidden = true;
    return;
  }
  const info = state.outputs.get(nodeId);
  const status = state.statuses.get(nodeId) || "queued";
  panel.hidden = false;
  panel.querySelector(".run-card__output-title").textContent = `${nodeId} · ${status}`;
  let text = "(no output yet)";
  if (info?.error) text = `Error: ${info.error}`;
  else if (info && info.output !== null && info.output !== undefined) text = String(info.output) || "(empty)";
  panel.querySelector(".run-card__output-text").textContent = text; // text only, never markup
}

function scheduleDraw(state) {
  if (state.frame) return;
  state.frame = requestAnimationFrame(() => {
    state.frame = 0;
    draw(state).catch((error) => {
      state.card.querySelector(".run-card__graph").textContent = `(graph unavailable: ${error.message})`;
    });
  });
}

async function draw(state) {
  const mermaid = await loadMermaid();
  const { text, ids } = mermaidSource(state.graph, state.statuses);
  renderCounter += 1;
  const { svg } = await mermaid.render(`run-graph-${renderCounter}`, text);
  const holder = state.card.querySelector(".run-card__graph");
  holder.innerHTML = svg; // Mermaid's own output (securityLevel strict); labels are node ids and types
  holder.dataset.rendered = String(renderCounter);
  const byKey = new Map([...ids].map(([nodeId, key]) => [key, nodeId]));
  for (const group of holder.querySelectorAll("g.node")) {
    const match = /^flowchart-(n\d+)-/.exec(group.id || "");
    const nodeId = match && byKey.get(match[1]);
    if (!nodeId) continue;
    group.dataset.nodeId = nodeId;
    group.dataset.status = state.statuses.get(nodeId) || "queued";
    group.style.cursor = "pointer";
    group.addEventListener("click", () => select(state, nodeId));
  }
}
