"""Condition expressions (``state.score >= 5``): simpleeval over a copy of the run's context.

Never ``eval``: simpleeval walks the AST itself, refuses ``_``-prefixed attributes (so
``().__class__.__mro__`` and ``__import__`` fail), caps powers, string sizes and comprehensions,
and only calls the functions listed here. The context is deep-copied for every evaluation, so a
method call cannot change the run's state: expressions have no side effects.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from ..errors import WorkflowError

MAX_EXPRESSION_CHARS = 1000

FUNCTIONS: dict[str, Any] = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sum": sum,
    "any": any,
    "all": all,
    "sorted": sorted,
}


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of ``expression`` with the names in ``context``; :class:`WorkflowError` if it cannot be had."""
    if not isinstance(expression, str) or not expression.strip():
        raise WorkflowError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise WorkflowError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    names = {**copy.deepcopy(dict(context)), "true": True, "false": False, "null": None}
    evaluator = EvalWithCompoundTypes(names=names, functions=FUNCTIONS)
    try:
        return evaluator.eval(expression.strip())
    except InvalidExpression as exc:
        raise WorkflowError(f"expression {expression!r} is not allowed: {exc}") from None
    except SyntaxError as exc:
        raise WorkflowError(f"expression {expression!r} is not valid: {exc.msg}") from None
    except (KeyError, IndexError) as exc:
        raise WorkflowError(f"expression {expression!r}: no value for {exc}") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise WorkflowError(f"expression {expression!r} failed: {exc}") from None
    except RecursionError:
        raise WorkflowError(f"expression {expression!r} is nested too deeply") from None


def truthy(expression: str, context: Mapping[str, Any]) -> bool:
    return bool(evaluate(expression, context))
