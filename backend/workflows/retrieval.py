"""Document ranking for retriever nodes: BM25+ (rank-bm25 ``BM25Plus``) over title + text.

BM25+ rather than Okapi BM25: Okapi's idf is 0 or negative for a term found in half the documents
or more, so on the platform's two-document example every score is 0 or below and ``refund policy``
ranks the shipping document first. Scores can still tie; ties are broken by the query terms' raw
frequency in the document, then by the document's position, so a ranking is always deterministic.
Documents that contain no query term are not returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rank_bm25 import BM25Plus

_WORD = re.compile(r"[0-9a-z]+|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]", re.I)
MAX_DOCUMENTS = 5000


def tokenize(text: str) -> list[str]:
    """Lower-case words; each CJK character is its own token (no word segmentation)."""
    return [t.lower() for t in _WORD.findall(text)]


def document_text(doc: Mapping[str, Any]) -> str:
    parts = [doc.get("title"), doc.get("text"), doc.get("content")]
    return " ".join(str(p) for p in parts if p)


def rank(query: str, documents: Sequence[Mapping[str, Any]], top_k: int) -> list[dict[str, Any]]:
    """The ``top_k`` best documents for ``query``, each a copy with ``score`` and ``rank`` added."""
    terms = tokenize(query)
    if not terms or not documents or top_k < 1:
        return []
    corpus = [tokenize(document_text(d)) for d in documents[:MAX_DOCUMENTS]]
    scores = BM25Plus([c or [""] for c in corpus]).get_scores(terms)
    wanted = set(terms)
    ranked = []
    for position, (doc, tokens, score) in enumerate(zip(documents, corpus, scores, strict=False)):
        frequency = sum(1 for t in tokens if t in wanted)
        if frequency:
            ranked.append((-float(score), -frequency, position, doc))
    ranked.sort(key=lambda item: item[:3])
    out = []
    for index, (neg_score, _, _, doc) in enumerate(ranked[:top_k], start=1):
        out.append({**dict(doc), "score": round(-neg_score, 6), "rank": index})
    return out


def documents_from_json(payload: Any) -> list[dict[str, Any]]:
    """An HTTP source returns a list of documents or ``{"documents": [...]}``."""
    if isinstance(payload, Mapping):
        payload = payload.get("documents")
    if not isinstance(payload, list):
        raise ValueError("the source must return a list of documents or an object with a 'documents' list")
    return [d if isinstance(d, Mapping) else {"text": str(d)} for d in payload]  # type: ignore[misc]
