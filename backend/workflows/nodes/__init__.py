"""Node executors, one per node kind (aliases resolved by :attr:`backend.workflows.dsl.Node.kind`)."""

from __future__ import annotations

from .base import Executor, ModelCaller, NodeContext, NodeResult, WorkflowHost
from .basic import answer, assigner, if_else, template_transform
from .code import code
from .model import agent, human, llm
from .retriever import retriever
from .tool import tool

EXECUTORS: dict[str, Executor] = {
    "assigner": assigner,
    "if-else": if_else,
    "template-transform": template_transform,
    "answer": answer,
    "knowledge-retrieval": retriever,
    "llm": llm,
    "agent": agent,
    "human": human,
    "tool": tool,
    "code": code,
}

__all__ = ["EXECUTORS", "Executor", "ModelCaller", "NodeContext", "NodeResult", "WorkflowHost"]
