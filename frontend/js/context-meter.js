// The context meter: how full the model's window was on the last call (`context` events).

import { byId } from "./dom.js";
import { compactNumber } from "./util.js";

/** Show the last `context` event of the current session (or hide the meter when there is none). */
export function renderContextMeter(context) {
  const meter = byId("context-meter");
  if (!context || !context.budget) {
    meter.hidden = true;
    return;
  }
  const used = Number(context.prompt_tokens ?? context.server_prompt_tokens ?? 0);
  const budget = Number(context.budget);
  const percent = Math.min(100, Math.round((used / budget) * 100));
  meter.hidden = false;
  meter.dataset.level = percent >= 90 ? "high" : percent >= 70 ? "medium" : "low";
  const bar = byId("context-bar");
  bar.setAttribute("aria-valuenow", String(percent));
  bar.setAttribute("aria-valuetext", `${used} of ${budget} tokens`);
  byId("context-fill").style.width = `${percent}%`;
  const folded = Number(context.summarized_messages || 0);
  byId("context-text").textContent = `${compactNumber(used)} / ${compactNumber(budget)}${folded ? ` · ${folded} summarized` : ""}`;
  const details = [
    `Prompt: ${used.toLocaleString()} of ${budget.toLocaleString()} tokens (${percent}%)`,
    context.server_prompt_tokens ? `Server count: ${Number(context.server_prompt_tokens).toLocaleString()}` : null,
    context.reserve ? `Reserved for the reply: ${context.reserve}` : null,
    folded ? `${folded} older messages summarized (${context.summary_tokens || 0} tokens)` : "No messages summarized yet",
    context.truncated_items ? `${context.truncated_items} item(s) truncated to fit` : null,
    context.agent ? `Agent: ${context.agent}` : null,
  ].filter(Boolean);
  meter.title = details.join("\n");
}
