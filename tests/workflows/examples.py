"""The agent platform's documented examples, as workflow definitions (shared by tests and the smoke script)."""

from __future__ import annotations

import itertools
from typing import Any

SCORE_CHECK: dict[str, Any] = {
    "name": "score-check",
    "description": "assigner -> if-else -> template (the platform's example)",
    "dsl": {
        "nodes": [
            {"id": "seed-state", "type": "assigner", "config": {"assignments": {"score": 7, "user_name": "Alice"}}},
            {"id": "check-score", "type": "if-else", "config": {"expression": "state.score >= 5"}},
            {
                "id": "high-path",
                "type": "template-transform",
                "config": {"template": "{{state.user_name}} passed with score {{state.score}}"},
            },
            {
                "id": "low-path",
                "type": "template-transform",
                "config": {"template": "{{state.user_name}} failed with score {{state.score}}"},
            },
        ],
        "edges": [
            {"source": "seed-state", "target": "check-score"},
            {"source": "check-score", "target": "high-path", "condition": "true"},
            {"source": "check-score", "target": "low-path", "condition": "false"},
        ],
    },
}

DOCUMENTS = [
    {"id": "refund", "title": "Refund Policy", "text": "Refund policy allows returns within seven days."},
    {"id": "shipping", "title": "Shipping Policy", "text": "Shipping usually takes three to five business days."},
]

RETRIEVAL: dict[str, Any] = {
    "name": "policy-lookup",
    "description": "retriever -> template (the platform's example)",
    "dsl": {
        "nodes": [
            {"id": "seed", "type": "assigner", "config": {"assignments": {"query": "refund"}}},
            {
                "id": "retrieve-docs",
                "type": "knowledge-retrieval",
                "config": {"query_template": "{{state.query}}", "top_k": 2, "documents": DOCUMENTS},
            },
            {
                "id": "render-answer",
                "type": "template-transform",
                "config": {"template": "Top doc: {{nodes.retrieve-docs.output.retrieved_documents.0.title}}"},
            },
        ],
        "edges": [
            {"source": "seed", "target": "retrieve-docs"},
            {"source": "retrieve-docs", "target": "render-answer"},
        ],
    },
}

CODE_SUM: dict[str, Any] = {
    "name": "compute-summary",
    "description": "a code node (the platform's example)",
    "dsl": {
        "nodes": [
            {
                "id": "compute-summary",
                "type": "code",
                "config": {
                    "language": "python",
                    "timeout_seconds": 5,
                    "input_json": {"numbers": [1, 2, 3, 4]},
                    "code": "total = sum(payload['numbers'])\n"
                    "result = {'total': total, 'count': len(payload['numbers'])}\n"
                    "print(f'total={total}')",
                },
            }
        ],
        "edges": [],
    },
}


def chain(name: str, nodes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A linear workflow of the given nodes."""
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": name, "description": "", "dsl": {"nodes": nodes, "edges": edges, **extra}}
