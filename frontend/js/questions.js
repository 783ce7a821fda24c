// Questions from the team (`question` events): an inline prompt with option buttons and a
// free-text answer. `question_closed` locks it with what happened.

import { h } from "./dom.js";
import { icon } from "./icons.js";
import { renderMarkdown } from "./render.js";

const CLOSED_TEXT = {
  answered: "Answered",
  cancelled: "Cancelled",
  expired: "Expired",
};

/**
 * A prompt for one question. onAnswer(questionId, text) sends the answer (false: it could not);
 * the prompt shows "Sending…" until the server closes the question.
 */
export function createQuestionPrompt(event, onAnswer) {
  const id = String(event.question_id);
  const headingId = `q-${id}`;
  const prompt = h("div", { class: "question", role: "group", "aria-labelledby": headingId, dataset: { questionId: id } });
  const text = h("div", { class: "question__text md", id: headingId });
  text.append(renderMarkdown(event.content));
  const input = h("input", { type: "text", class: "question__input", placeholder: "Type your answer…", "aria-label": "Your answer" });
  const submit = h("button", { type: "submit", class: "btn btn--primary btn--small", text: "Answer" });

  function send(answer) {
    const value = String(answer).trim();
    if (!value || prompt.classList.contains("is-locked")) return;
    setState(prompt, "sending", value);
    if (onAnswer(id, value) === false) setState(prompt, "open");
  }

  const options = Array.isArray(event.options) ? event.options : [];
  const optionRow = options.length
    ? h(
        "div",
        { class: "question__options" },
        options.map((option) =>
          h("button", { type: "button", class: "chip chip--option", text: String(option), onclick: () => send(option) }),
        ),
      )
    : null;
  const form = h("form", { class: "question__form" }, input, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(input.value);
  });
  prompt.append(
    h("div", { class: "question__head" }, icon("help", { size: 16 }), h("span", { text: "The team asks" })),
    text,
    optionRow,
    form,
    h("div", { class: "question__state", role: "status" }),
  );
  return prompt;
}

/** Lock a prompt: "sending" (optimistic), "answered", "cancelled" or "expired". */
export function setState(prompt, state, answer) {
  const locked = state !== "open";
  prompt.classList.toggle("is-locked", locked);
  prompt.dataset.state = state;
  for (const control of prompt.querySelectorAll("button, input")) control.disabled = locked;
  for (const button of prompt.querySelectorAll(".chip--option")) {
    button.classList.toggle("is-chosen", answer !== undefined && button.textContent === answer);
  }
  const line = prompt.querySelector(".question__state");
  if (state === "open") line.textContent = "";
  else if (state === "sending") line.textContent = `Sending “${answer}”…`;
  else line.textContent = answer ? `${CLOSED_TEXT[state] || state}: ${answer}` : CLOSED_TEXT[state] || state;
}

/** Apply a `question_closed` event. */
export function closeQuestion(prompt, event) {
  setState(prompt, event.status || "answered", event.answer ?? prompt.querySelector(".is-chosen")?.textContent);
}

/** Re-open prompts still pending on the server (e.g. an answer was lost in a reconnect). */
export function reopenQuestion(prompt) {
  if (prompt.dataset.state === "sending" || prompt.dataset.state === undefined) setState(prompt, "open");
}
