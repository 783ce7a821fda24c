"""One exception hierarchy for the whole server. Expected failures carry a protocol ``code``."""

from __future__ import annotations


class AgentChatError(Exception):
    """Base class of every error this package raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class SettingsError(AgentChatError):
    """A configuration value is missing or malformed (raised once, at start-up)."""

    code = "bad_settings"


class ProtocolError(AgentChatError):
    """A client frame is malformed: bad JSON shape, unknown type, missing or invalid field."""

    code = "bad_request"


class SessionNotFoundError(AgentChatError):
    """The client named a session that does not exist."""

    code = "unknown_session"


class SessionElsewhereError(AgentChatError):
    """Another server process of the cluster runs the session; what lives with its owner (the
    sandbox container) is reached there (HTTP 409)."""

    code = "session_elsewhere"


class BusyError(AgentChatError):
    """The request cannot be accepted now (queue full, rate limited)."""

    code = "busy"


class ToolError(AgentChatError):
    """A tool was called with arguments it cannot act on; the model sees the message."""

    code = "tool_error"


class SandboxUnavailableError(ToolError):
    """The Docker engine or the sandbox image cannot be used."""

    code = "sandbox_unavailable"


class ModelError(AgentChatError):
    """The model endpoint is down, slow, or answered with something unusable."""

    code = "model_error"


class ModelOutputLimitError(ModelError):
    """The model streamed more than MODEL_OUTPUT_LIMIT, or one chunk over the per-delta limit."""

    code = "model_output_limit"


class ModelTimeoutError(ModelError):
    """The model endpoint did not answer within LLM_TIMEOUT (HTTP faces answer 504)."""

    code = "model_timeout"


class TeamSpecError(AgentChatError):
    """A team preset file is not valid."""

    code = "bad_team"


class AuthError(AgentChatError):
    """The caller is not authenticated: no credentials, or credentials that do not work (HTTP 401)."""

    code = "unauthorized"


class ForbiddenError(AgentChatError):
    """The caller is known but may not do this (HTTP 403): a scope, a tenant header, a disabled action."""

    code = "forbidden"


class WorkflowError(AgentChatError):
    """A workflow node or run failed in an expected way (bad expression, tool timeout, ...)."""

    code = "workflow_error"


class WorkflowValidationError(WorkflowError):
    """A workflow definition is not valid; the message names the node."""

    code = "invalid_workflow"


class WorkflowNotFoundError(WorkflowError):
    """No workflow, version or run with that id."""

    code = "unknown_workflow"


class UploadError(AgentChatError):
    """A file upload is refused (bad name, too large, too many files); ``status`` is its HTTP status."""

    code = "bad_upload"

    def __init__(self, message: str, *, status: int = 400, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class TransferError(AgentChatError):
    """A session export cannot be imported (wrong format or version, bad or oversized content);
    ``status`` is its HTTP status."""

    code = "bad_import"

    def __init__(self, message: str, *, status: int = 400, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
