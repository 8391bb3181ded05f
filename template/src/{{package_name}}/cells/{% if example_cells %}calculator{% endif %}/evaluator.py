"""Arithmetic on untrusted text: parse with `ast`, evaluate only a whitelist of nodes.

Numbers, parentheses, unary + and -, and + - * / // % **. Anything else (names,
calls, attributes, strings, comparisons) is refused before evaluation. Sizes
are bounded so one expression cannot take unbounded time or memory; the
sandbox bounds what this code cannot foresee.
"""

import ast
import math
import operator
from collections.abc import Callable

MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300

BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


# Operators Python has and this calculator does not, as a caller typed them.
OTHER_OPERATORS: dict[type[ast.AST], str] = {
    ast.BitXor: "^ (powers are **)",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}
# What else the text may hold, in a caller's words (not the parser's node names).
OTHER_NODES: dict[type[ast.AST], str] = {
    ast.Name: "a name",
    ast.Call: "a function call",
    ast.Attribute: "an attribute",
    ast.Constant: "text or another non-number",
    ast.Compare: "a comparison",
    ast.BoolOp: "and / or",
    ast.IfExp: "a conditional",
    ast.Subscript: "an index",
}


class InvalidExpressionError(ValueError):
    """The text is not an expression this calculator evaluates; the message says why."""


def evaluate(expression: str) -> float:
    """The value of `expression`; raise `InvalidExpressionError` with a reason otherwise."""
    if not expression.strip():
        raise InvalidExpressionError("an empty expression")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        raise InvalidExpressionError(f"not an arithmetic expression: {error.args[0]}") from None
    try:
        value = _value(tree.body)
    except ZeroDivisionError:
        raise InvalidExpressionError("division by zero") from None
    except (OverflowError, RecursionError):
        raise InvalidExpressionError("the result is too large") from None
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise InvalidExpressionError("the result is too large")
    return value


def _value(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise InvalidExpressionError("not allowed in an expression: a boolean")
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise InvalidExpressionError(f"exponents are limited to {MAX_EXPONENT}")
        result = BINARY[type(node.op)](left, right)
        if isinstance(result, complex):  # (-1) ** 0.5: Python answers a complex number
            raise InvalidExpressionError("the result is not a real number")
        return result
    operator_node = getattr(node, "op", None)
    if isinstance(operator_node, ast.AST) and type(operator_node) in OTHER_OPERATORS:
        said = f"the operator {OTHER_OPERATORS[type(operator_node)]}"
    else:
        said = OTHER_NODES.get(type(node), "Python syntax other than arithmetic")
    raise InvalidExpressionError(f"not allowed in an expression: {said}")
