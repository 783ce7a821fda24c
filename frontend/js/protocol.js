// Protocol v1 (docs/protocol.md): route each server event to its handler by `type`.

/** Event types that belong to a session's timeline (they carry a seq). */
export const TIMELINE_TYPES = new Set([
  "user_message", "queued", "delta", "agent_message", "handoff", "tool_call", "tool_result",
  "response", "done", "error", "warning", "question", "question_closed", "reminder", "context",
  "todos", "reminders", "summary", "reset", "workflow_run", "node_run", "file",
  "approval_request", "approval_result", "approval_grants",
]);

/** Replies whose arrival needs no action from the page. */
const IGNORED_REPLIES = new Set(["pong", "auth", "tools", "history", "sandbox_status", "sandbox_stats", "sandbox_logs", "sandbox_reset"]);

/** Reported unknown types (kept for debugging: window.__agentchatUnknown). */
export const unknownTypes = [];

function reportUnknown(event) {
  unknownTypes.push(event.type);
  console.warn("agentchat: unknown event type", event.type, event);
}

/**
 * Call handlers[type](event). Every protocol v1 type is listed; anything else is reported.
 * Handlers that are missing for a known type are skipped silently (the page has nothing to do).
 */
export function dispatch(event, handlers) {
  const call = (name) => (handlers[name] ? handlers[name](event) : undefined);
  switch (event.type) {
    // replies to requests
    case "session": return call("session");
    case "resumed": return call("resumed");
    case "sessions": return call("sessions");
    case "deleted": return call("deleted");
    case "renamed": return call("renamed");
    case "stopped": return call("stopped");
    case "tool_done": return call("tool_done");
    // the timeline
    case "user_message": return call("user_message");
    case "queued": return call("queued");
    case "delta": return call("delta");
    case "agent_message": return call("agent_message");
    case "handoff": return call("handoff");
    case "tool_call": return call("tool_call");
    case "tool_result": return call("tool_result");
    case "response": return call("response");
    case "done": return call("done");
    case "error": return call("error");
    case "warning": return call("warning");
    case "question": return call("question");
    case "question_closed": return call("question_closed");
    case "reminder": return call("reminder");
    case "context": return call("context");
    case "todos": return call("todos");
    case "reminders": return call("reminders");
    case "summary": return call("summary");
    case "reset": return call("reset");
    case "workflow_run": return call("workflow_run");
    case "node_run": return call("node_run");
    case "file": return call("file");
    case "approval_request": return call("approval_request");
    case "approval_result": return call("approval_result");
    case "approval_grants": return call("approval_grants");
    default:
      if (IGNORED_REPLIES.has(event.type)) return undefined;
      return reportUnknown(event);
  }
}
