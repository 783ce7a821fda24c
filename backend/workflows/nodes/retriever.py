"""knowledge-retrieval / retriever: BM25 over inline documents or an HTTP JSON source."""

from __future__ import annotations

from ...errors import WorkflowError
from .. import retrieval
from .base import NodeContext, NodeResult, number
from .http import request


async def retriever(ctx: NodeContext) -> NodeResult:
    config = ctx.config
    query = await ctx.render_text(str(config.get("query_template") or config.get("query")))
    top_k = int(number(config, "top_k", 3, low=1, high=50))
    source_url = config.get("source_url")
    if source_url:
        url = await ctx.render_text(str(source_url))
        timeout = number(
            config,
            "timeout_seconds",
            ctx.settings.workflow_http_timeout,
            low=0.1,
            high=ctx.settings.workflow_http_timeout,
        )
        reply = await request("GET", url, timeout=timeout, limit=ctx.settings.workflow_output_limit * 16)
        if reply.status >= 400:
            raise WorkflowError(f"the document source answered HTTP {reply.status}")
        if reply.truncated:
            raise WorkflowError(f"the document source sent more than {ctx.settings.workflow_output_limit * 16} bytes")
        try:
            documents = retrieval.documents_from_json(reply.json)
        except ValueError as exc:
            raise WorkflowError(str(exc)) from None
    else:
        raw = config.get("documents")
        if not isinstance(raw, list):
            raise WorkflowError("config.documents must be a list")
        documents = retrieval.documents_from_json(raw)
    ranked = retrieval.rank(query, documents, top_k)
    text = "\n\n".join(
        f"[{d['rank']}] {d.get('title') or d.get('id') or ''}\n{retrieval.document_text(d)}" for d in ranked
    )
    return NodeResult(
        output_text=ctx.cap_text(text),
        output_json=ctx.check_json_size({"query": query, "retrieved_documents": ranked}),
        inputs={"query": query, "top_k": top_k, "documents": len(documents)},
    )
