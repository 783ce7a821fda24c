// What each server event does to the page: the handler table for protocol.dispatch.
//
// Timeline events reach here already deduplicated by seq (app.js); replies (seq null) carry
// session state, lists and errors about frames we sent.

import * as conversation from "./conversation.js";
import { announce } from "./dom.js";
import { notifyReminder, showToast } from "./notify.js";
import { renderContextMeter } from "./context-meter.js";

const RECENT_REMINDER_SECONDS = 120;
const FRAME_ERRORS_FAILING_A_SEND = new Set(["busy", "bad_request", "rate_limited", "session_closed", "no_session"]);

/**
 * Build the handler table. `app` is the controller: {state, show, newConversation, viewFor,
 * transmit, request, attach, setHash, renderChrome, renderPanels, renderSidebar,
 * refreshSessionsSoon, onConversationChanged, scrollToBottom, flushUploads}.
 */
export function createHandlers(app) {
  const { state } = app;

  function timeline(fn) {
    return (event) => {
      const conv = state.views.get(event.session_id);
      if (!conv) return;
      fn(conv, event);
      if (conv !== state.current && !conv.replaying && event.type !== "context") {
        if (!state.unread.has(conv.id)) {
          state.unread.add(conv.id);
          app.renderSidebar();
        }
      }
      if (conv === state.current) app.renderChrome();
    };
  }

  const handlers = {
    session(event) {
      let conv = state.views.get(event.session_id);
      if (!conv && event.created && state.createQueue.length) {
        conv = state.createQueue.shift();
        conv.id = event.session_id;
        conv.creating = false;
        state.views.set(conv.id, conv);
        for (const frame of conv.waiting.splice(0)) app.transmit(conv, frame);
        app.flushUploads(conv);
        app.request({ type: "todo_list", session_id: conv.id });
        app.request({ type: "reminder_list", session_id: conv.id });
        app.refreshSessionsSoon();
        if (conv === state.current) app.setHash(conv.id);
      }
      if (!conv) conv = app.viewFor(event.session_id);
      if (typeof event.last_seq === "number" && event.last_seq < conv.lastSeq) {
        // The server no longer has what this view shows (e.g. a wiped data dir): start over.
        conversation.clearConversation(conv);
        app.attach(conv);
        return;
      }
      if (event.title) conv.title = event.title;
      conv.baseline = (event.running ? 1 : 0) + (Number(event.queued) || 0);
      conv.pendingQuestions = event.pending_questions || [];
      conv.pendingApprovals = event.pending_approvals || [];
      conv.grants = event.approval_grants || [];
      if ("replay" in event) {
        conv.replaying = true;
        conv.initialReplay = event.resumed_from === 0;
      } else {
        conv.pending = conv.baseline;
        conv.loading = false;
        conversation.ensurePendingQuestions(conv, conv.pendingQuestions);
        conversation.ensurePendingApprovals(conv, conv.pendingApprovals);
      }
      if (conv === state.current) app.renderChrome();
    },

    resumed(event) {
      const conv = state.views.get(event.session_id);
      if (!conv) return;
      conv.replaying = false;
      conv.initialReplay = false;
      conv.loading = false;
      conv.pending = conv.baseline ?? conv.pending;
      conversation.ensurePendingQuestions(conv, conv.pendingQuestions);
      conversation.ensurePendingApprovals(conv, conv.pendingApprovals);
      conversation.failUnacknowledged(conv, state.conn.generation);
      app.onConversationChanged(conv);
      if (conv === state.current) {
        app.renderChrome();
        app.scrollToBottom();
      }
    },

    sessions(event) {
      state.sessions = event.sessions || [];
      for (const s of state.sessions) {
        const conv = state.views.get(s.session_id);
        if (conv && s.title) conv.title = s.title;
      }
      app.renderSidebar();
      app.renderChrome();
    },

    deleted(event) {
      state.sessions = state.sessions.filter((s) => s.session_id !== event.session_id);
      state.views.delete(event.session_id);
      state.unread.delete(event.session_id);
      if (state.current?.id === event.session_id) app.show(app.newConversation());
      else app.renderSidebar();
      showToast({ title: "Conversation deleted" });
    },

    renamed(event) {
      const entry = state.sessions.find((s) => s.session_id === event.session_id);
      if (entry) entry.title = event.title;
      const conv = state.views.get(event.session_id);
      if (conv) conv.title = event.title;
      app.renderSidebar();
      app.renderChrome();
    },

    stopped(event) {
      const conv = state.views.get(event.session_id);
      if (conv) {
        conv.pending = 0;
        app.onConversationChanged(conv);
      }
      if (conv === state.current) app.renderChrome();
    },

    tool_done(event) {
      if (event.name === "schedule_reminder") showToast({ title: "Reminder scheduled", body: String(event.result ?? "") });
    },

    user_message: timeline((conv, event) => {
      conversation.onUserMessage(conv, event);
      if (!conv.title) conv.title = String(event.content).replace(/\s+/g, " ").slice(0, 60);
    }),
    queued: timeline(conversation.onQueued),
    delta: timeline(conversation.onDelta),
    agent_message: timeline(conversation.onAgentMessage),
    handoff: timeline(conversation.onHandoff),
    tool_call: timeline(conversation.onToolCall),
    tool_result: timeline(conversation.onToolResult),
    response: timeline(conversation.onResponse),
    done: timeline((conv, event) => {
      conversation.onDone(conv, event);
      if (!conv.replaying) app.refreshSessionsSoon();
    }),
    warning: timeline(conversation.onWarning),
    question: timeline(conversation.onQuestion),
    question_closed: timeline(conversation.onQuestionClosed),
    approval_request: timeline(conversation.onApprovalRequest),
    approval_result: timeline(conversation.onApprovalResult),
    approval_grants: timeline(conversation.onApprovalGrants),
    summary: timeline(conversation.onSummary),
    reset: timeline(conversation.onReset),
    workflow_run: timeline(conversation.onWorkflowRun),
    node_run: timeline(conversation.onNodeRun),
    file: timeline(conversation.onFile),
    reminder: timeline((conv, event) => {
      conversation.onReminderEvent(conv, event);
      const recent = Date.now() / 1000 - (event.ts || 0) < RECENT_REMINDER_SECONDS;
      if (!conv.initialReplay || recent) {
        notifyReminder(event);
        announce(`Reminder: ${event.message}`);
      }
      // the server does not send `reminders` after a firing: ask, so a one-shot one leaves the panel
      if (!conv.replaying) app.request({ type: "reminder_list", session_id: conv.id });
    }),

    context(event) {
      const conv = state.views.get(event.session_id);
      if (!conv) return;
      conv.context = event;
      if (conv === state.current) renderContextMeter(event);
    },

    todos(event) {
      const conv = state.views.get(event.session_id);
      if (!conv) return;
      conv.todos = event.todos || [];
      if (conv === state.current) app.renderPanels();
    },

    reminders(event) {
      const conv = state.views.get(event.session_id);
      if (!conv) return;
      conv.reminders = event.reminders || [];
      if (conv === state.current) app.renderPanels();
    },

    error(event) {
      if (event.seq !== null && event.seq !== undefined) {
        timeline(conversation.onTimelineError)(event);
        return;
      }
      onFrameError(event);
    },
  };

  /** An error about a frame we sent (not part of a turn). */
  function onFrameError(event) {
    const conv = event.session_id ? state.views.get(event.session_id) : state.current;
    if (event.code === "unknown_session" && event.session_id) {
      state.views.delete(event.session_id);
      state.sessions = state.sessions.filter((s) => s.session_id !== event.session_id);
      if (state.current?.id === event.session_id) app.show(app.newConversation());
      else app.renderSidebar();
      showToast({ title: "That conversation no longer exists", body: event.message, kind: "error" });
      return;
    }
    if (FRAME_ERRORS_FAILING_A_SEND.has(event.code) && conv) conversation.failOldestSending(conv);
    if (conv && (event.code === "question_closed" || event.code === "unknown_question")) {
      for (const prompt of conv.questions.values()) {
        if (prompt.dataset.state === "sending") prompt.dataset.state = "closed";
      }
    }
    showToast({ title: event.code || "error", body: event.message || "", kind: "error" });
  }

  return handlers;
}
