"""Context budget: every model request fits the window, with a rolling summary that always converges.

- :mod:`.tokens` counts requests offline (cl100k over the wire JSON) and truncates with markers;
- :mod:`.budget` is the pure fitting algorithm (what to fold, truncate, and how big the summary may be);
- :mod:`.summarizer` makes summaries with the model or, as a fallback, extractively;
- :mod:`.model_context` is the AutoGen ``ChatCompletionContext`` that ties them together.
"""

from .budget import ContextOverflowError, request_limit
from .model_context import BudgetedChatCompletionContext, ContextReport
from .summarizer import SUMMARY_PREFIX, SUMMARY_REQUEST_MARKER, ModelSummarizer, Summarizer, extractive_summary
from .tokens import ServerTokenizer, TokenCounter, calibrate_margin, seed_tiktoken_cache

__all__ = [
    "SUMMARY_PREFIX",
    "SUMMARY_REQUEST_MARKER",
    "BudgetedChatCompletionContext",
    "ContextOverflowError",
    "ContextReport",
    "ModelSummarizer",
    "ServerTokenizer",
    "Summarizer",
    "TokenCounter",
    "calibrate_margin",
    "extractive_summary",
    "request_limit",
    "seed_tiktoken_cache",
]
