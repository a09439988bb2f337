"""The check condition language: a small, declarative, safe language over facts.

A condition is a YAML mapping, evaluated by walking data (never `eval`):

* comparison: `{path: P, <op>: value}` with one op of `equals`, `not_equals`, `in`,
  `not_in`, `lt`, `le`, `gt`, `ge`, `matches` (regex, full match), `contains` (a list
  contains a value, or a string a substring), `exists` (true/false: the path resolves
  to a non-null value), `empty` (true/false: list, mapping or string length 0);
* logic: `{all: [c, ...]}`, `{any: [c, ...]}`, `{not: c}`;
* quantifiers over a list at P, with paths relative to each element:
  `{every: P, where: c?, condition: c}` (true for an empty selection),
  `{some: P, where: c?, condition: c}`, `{none: P, where: c?, condition: c}`,
  `{count: P, where: c?, <op>: n}` (op among lt, le, gt, ge, equals).

Paths are dotted keys into the record (`facts.settings.permitrootlogin`); a key that
is an integer indexes a list. A key that itself holds dots is reached with a list path
(`[facts, sysctl, net.ipv4.ip_forward]`), and `@` is the item itself inside a
quantifier (`{every: facts.settings.ciphers, condition: {path: "@", matches: ...}}`).

Evaluation is three-valued: True, False, or None when a path needed to decide is
missing or null (the collector could not tell). Each result carries the observed value
and a sentence saying why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COMPARISONS = (
    "equals",
    "not_equals",
    "in",
    "not_in",
    "lt",
    "le",
    "gt",
    "ge",
    "matches",
    "contains",
    "exists",
    "empty",
)
QUANTIFIERS = ("every", "some", "none", "count")
LOGIC = ("all", "any", "not")
_MISSING = object()


class ConditionError(ValueError):
    """A condition is not well formed; the message says where and why."""


@dataclass(frozen=True)
class Outcome:
    value: bool | None  # None: could not be decided (missing or null facts)
    observed: Any
    reason: str


def validate(condition: Any, where: str = "condition") -> None:
    """Raise ConditionError unless `condition` is a well-formed condition."""
    if not isinstance(condition, Mapping):
        raise ConditionError(f"{where}: expected a mapping, got {type(condition).__name__}")
    keys = set(condition)
    logic = keys & set(LOGIC)
    quantifier = keys & set(QUANTIFIERS)
    if logic:
        if len(keys) != 1:
            raise ConditionError(f"{where}: '{next(iter(logic))}' takes no sibling keys")
        key = next(iter(logic))
        if key == "not":
            validate(condition["not"], f"{where}.not")
            return
        items = condition[key]
        if not isinstance(items, list) or not items:
            raise ConditionError(f"{where}.{key}: expected a non-empty list of conditions")
        for index, item in enumerate(items):
            validate(item, f"{where}.{key}[{index}]")
        return
    if quantifier:
        if len(quantifier) != 1:
            raise ConditionError(f"{where}: more than one of {', '.join(QUANTIFIERS)}")
        key = next(iter(quantifier))
        _path(condition[key], f"{where}.{key}")
        if "where" in condition:
            validate(condition["where"], f"{where}.where")
        if key == "count":
            ops = keys & {"lt", "le", "gt", "ge", "equals"}
            if len(ops) != 1 or keys - {"count", "where", *ops}:
                raise ConditionError(f"{where}: count needs exactly one of lt, le, gt, ge, equals")
            if not isinstance(condition[next(iter(ops))], int):
                raise ConditionError(f"{where}: count compares with an integer")
            return
        if keys - {key, "where", "condition"} or "condition" not in condition:
            raise ConditionError(f"{where}: '{key}' takes 'condition' and optional 'where'")
        validate(condition["condition"], f"{where}.condition")
        return
    if "path" not in condition:
        raise ConditionError(
            f"{where}: expected 'path' with an operator, or one of "
            f"{', '.join(LOGIC + QUANTIFIERS)}; got keys {sorted(keys)}"
        )
    _path(condition["path"], f"{where}.path")
    ops = keys - {"path"}
    if len(ops) != 1 or not ops <= set(COMPARISONS):
        raise ConditionError(
            f"{where}: give exactly one operator of {', '.join(COMPARISONS)}; got {sorted(ops)}"
        )
    op = next(iter(ops))
    operand = condition[op]
    if op in ("in", "not_in") and not isinstance(operand, list):
        raise ConditionError(f"{where}.{op}: expected a list")
    if op in ("lt", "le", "gt", "ge") and (
        isinstance(operand, bool) or not isinstance(operand, int | float)
    ):
        raise ConditionError(f"{where}.{op}: expected a number")
    if op in ("exists", "empty") and not isinstance(operand, bool):
        raise ConditionError(f"{where}.{op}: expected true or false")
    if op == "matches":
        if not isinstance(operand, str):
            raise ConditionError(f"{where}.matches: expected a regular expression string")
        try:
            re.compile(operand)
        except re.error as exc:
            raise ConditionError(f"{where}.matches: invalid regular expression: {exc}") from exc


def _path(value: Any, where: str) -> list[str]:
    if isinstance(value, list) and value and all(isinstance(p, str) and p for p in value):
        return list(value)
    if value == "@":
        return []
    if not isinstance(value, str) or not value or any(not part for part in value.split(".")):
        raise ConditionError(
            f"{where}: expected a dotted path such as facts.settings.port, a list of keys, or @"
        )
    return value.split(".")


def _parts(path: str | list[str]) -> list[str]:
    if isinstance(path, list):
        return path
    return [] if path == "@" else path.split(".")


def _label(path: str | list[str]) -> str:
    return ".".join(path) if isinstance(path, list) else path


def resolve(data: Any, path: str | list[str]) -> Any:
    """The value at `path` (dotted text, list of keys, or @ for `data` itself)."""
    current = data
    for part in _parts(path):
        if isinstance(current, Mapping):
            if part not in current:
                return _MISSING
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def evaluate(condition: Mapping[str, Any], data: Any) -> Outcome:
    """Evaluate a validated condition against `data` (a record: facts, sources, ...)."""
    if "all" in condition or "any" in condition:
        return _logic(condition, data)
    if "not" in condition:
        inner = evaluate(condition["not"], data)
        value = None if inner.value is None else not inner.value
        return Outcome(value, inner.observed, f"not ({inner.reason})")
    for key in QUANTIFIERS:
        if key in condition:
            return _quantified(key, condition, data)
    return _compare(condition, data)


def _logic(condition: Mapping[str, Any], data: Any) -> Outcome:
    key = "all" if "all" in condition else "any"
    outcomes = [evaluate(item, data) for item in condition[key]]
    deciding = key == "any"  # all: a False decides; any: a True decides
    decided = [o for o in outcomes if o.value is deciding]
    if decided:  # the first failing (all) or passing (any) part says why
        return Outcome(deciding, decided[0].observed, decided[0].reason)
    unknown = [o for o in outcomes if o.value is None]
    if unknown:
        return Outcome(None, unknown[0].observed, unknown[0].reason)
    joined = "; ".join(o.reason for o in outcomes)
    return Outcome(not deciding, [o.observed for o in outcomes], joined)


def _selection(condition: Mapping[str, Any], key: str, data: Any) -> list[Any] | Outcome:
    path = _label(condition[key])
    items = resolve(data, condition[key])
    if items is _MISSING or items is None:
        return Outcome(None, None, f"{path} is unknown")
    if not isinstance(items, list):
        return Outcome(None, items, f"{path} is not a list")
    where = condition.get("where")
    if where is None:
        return items
    return [item for item in items if evaluate(where, item).value is True]


def _quantified(key: str, condition: Mapping[str, Any], data: Any) -> Outcome:
    path = _label(condition[key])
    selected = _selection(condition, key, data)
    if isinstance(selected, Outcome):
        return selected
    if key == "count":
        op = next(o for o in ("lt", "le", "gt", "ge", "equals") if o in condition)
        value = _ordered(op, len(selected), condition[op])
        return Outcome(
            value, len(selected), f"{path}: {len(selected)} matching, expected {op} {condition[op]}"
        )
    inner = condition["condition"]
    results = [(item, evaluate(inner, item)) for item in selected]
    failing = [(item, o) for item, o in results if o.value is False]
    passing = [(item, o) for item, o in results if o.value is True]
    unknown = [(item, o) for item, o in results if o.value is None]
    if key == "every":
        if failing:
            return Outcome(
                False,
                [item for item, _ in failing],
                f"{path}: {len(failing)} of {len(selected)} fail: {failing[0][1].reason}",
            )
        if unknown:
            return Outcome(None, [item for item, _ in unknown], f"{path}: {unknown[0][1].reason}")
        return Outcome(True, len(selected), f"{path}: all {len(selected)} satisfy the condition")
    if key == "some":
        if passing:
            return Outcome(True, passing[0][0], f"{path}: {passing[0][1].reason}")
        if unknown:
            return Outcome(None, None, f"{path}: {unknown[0][1].reason}")
        return Outcome(
            False, len(selected), f"{path}: none of {len(selected)} satisfy the condition"
        )
    # none
    if passing:
        return Outcome(
            False,
            [item for item, _ in passing],
            f"{path}: {len(passing)} match but none may: {passing[0][1].reason}",
        )
    if unknown:
        return Outcome(None, None, f"{path}: {unknown[0][1].reason}")
    return Outcome(True, 0, f"{path}: none of {len(selected)} match")


def _ordered(op: str, left: Any, right: Any) -> bool:
    if op == "equals":
        return bool(left == right)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    return bool(left >= right)


def _compare(condition: Mapping[str, Any], data: Any) -> Outcome:
    path = _label(condition["path"])
    op = next(o for o in COMPARISONS if o in condition)
    expected = condition[op]
    value = resolve(data, condition["path"])
    present = value is not _MISSING and value is not None
    if op == "exists":
        ok = present == expected
        shown = None if value is _MISSING else value
        state = "present" if present else "missing or unknown"
        return Outcome(
            ok, shown, f"{path} is {state}, expected {'present' if expected else 'absent'}"
        )
    if not present:
        return Outcome(None, None, f"{path} is unknown")
    if op == "empty":
        if not isinstance(value, list | dict | str):
            return Outcome(None, value, f"{path} is {value!r}, which has no length")
        ok = (len(value) == 0) == expected
        return Outcome(
            ok, value, f"{path} is {_show(value)}, expected {'empty' if expected else 'not empty'}"
        )
    if op in ("equals", "not_equals"):
        ok = (value == expected) == (op == "equals")
        word = "" if op == "equals" else "not "
        return Outcome(ok, value, f"{path} is {_show(value)}, expected {word}{_show(expected)}")
    if op in ("in", "not_in"):
        ok = (value in expected) == (op == "in")
        word = "one of" if op == "in" else "none of"
        return Outcome(ok, value, f"{path} is {_show(value)}, expected {word} {_show(expected)}")
    if op in ("lt", "le", "gt", "ge"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Outcome(None, value, f"{path} is {_show(value)}, not a number")
        symbol = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
        return Outcome(
            _ordered(op, value, expected), value, f"{path} is {value}, expected {symbol} {expected}"
        )
    if op == "matches":
        if not isinstance(value, str):
            return Outcome(None, value, f"{path} is {_show(value)}, not text")
        ok = re.fullmatch(expected, value) is not None
        return Outcome(ok, value, f"{path} is {_show(value)}, expected to match /{expected}/")
    # contains
    if isinstance(value, list) or (isinstance(value, str) and isinstance(expected, str)):
        ok = expected in value
    else:
        return Outcome(None, value, f"{path} is {_show(value)}, which cannot contain a value")
    return Outcome(ok, value, f"{path} is {_show(value)}, expected to contain {_show(expected)}")


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
