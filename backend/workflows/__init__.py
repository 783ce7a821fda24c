"""Declarative workflows: versioned graphs of typed nodes, run durably and streamed into sessions.

``dsl`` (parse + validate, pure), ``expressions`` (simpleeval), ``templates`` (sandboxed Jinja2),
``retrieval`` (BM25), ``nodes`` (one executor per node kind), ``scheduling`` (what runs next, pure),
``definitions`` (versions, files) and ``engine`` (runs, leases, resume).
"""

from .engine import WorkflowEngine

__all__ = ["WorkflowEngine"]
