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
from collections.abc import Callable, Mapping
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


class Outcome:
    """The value of a condition (None: undecided), what was observed, and why. The
    sentence is made only when read: a fleet evaluation reads few of them."""

    __slots__ = ("_why", "observed", "value")

    def __init__(self, value: bool | None, observed: Any, why: str | Callable[[], str]) -> None:
        self.value = value
        self.observed = observed
        self._why = why

    @property
    def reason(self) -> str:
        if not isinstance(self._why, str):
            self._why = self._why()
        return self._why


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
    return _resolve(data, _parts(path))


def _resolve(data: Any, parts: list[str]) -> Any:
    current = data
    for part in parts:
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


Evaluator = Callable[[Any], Outcome]
_COMPILED: dict[int, tuple[Mapping[str, Any], Evaluator]] = {}
_COMPILED_LIMIT = 10_000


def evaluate(condition: Mapping[str, Any], data: Any) -> Outcome:
    """Evaluate a validated condition against `data` (a record: facts, sources, ...)."""
    return compile_condition(condition)(data)


def compile_condition(condition: Mapping[str, Any]) -> Evaluator:
    """The condition as a function of the data (built once per condition object: a check
    is evaluated on every host of a fleet)."""
    hit = _COMPILED.get(id(condition))
    if hit is not None and hit[0] is condition:
        return hit[1]
    function = _compile(condition)
    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.clear()
    _COMPILED[id(condition)] = (condition, function)
    return function


def _compile(condition: Mapping[str, Any]) -> Evaluator:
    if "all" in condition or "any" in condition:
        return _compile_logic(condition)
    if "not" in condition:
        inner = _compile(condition["not"])

        def negate(data: Any) -> Outcome:
            outcome = inner(data)
            value = None if outcome.value is None else not outcome.value
            return Outcome(value, outcome.observed, lambda: f"not ({outcome.reason})")

        return negate
    for key in QUANTIFIERS:
        if key in condition:
            return _compile_quantified(key, condition)
    return _compile_compare(condition)


def _compile_logic(condition: Mapping[str, Any]) -> Evaluator:
    key = "all" if "all" in condition else "any"
    parts = [_compile(item) for item in condition[key]]
    deciding = key == "any"  # all: a False decides; any: a True decides

    def run(data: Any) -> Outcome:
        outcomes = []
        for part in parts:
            outcome = part(data)
            if outcome.value is deciding:  # the first deciding part says why
                return _because(deciding, outcome)
            outcomes.append(outcome)
        unknown = next((o for o in outcomes if o.value is None), None)
        if unknown is not None:
            return Outcome(None, unknown.observed, lambda: unknown.reason)
        return Outcome(
            not deciding,
            [o.observed for o in outcomes],
            lambda: "; ".join(o.reason for o in outcomes),
        )

    return run


def _because(value: bool, outcome: Outcome) -> Outcome:
    """`value`, observed and explained as `outcome` is."""
    return Outcome(value, outcome.observed, lambda: outcome.reason)


def _compile_quantified(key: str, condition: Mapping[str, Any]) -> Evaluator:
    parts = _parts(condition[key])
    path = _label(condition[key])
    where = _compile(condition["where"]) if "where" in condition else None
    inner = _compile(condition["condition"]) if "condition" in condition else None
    count_op = next((o for o in ("lt", "le", "gt", "ge", "equals") if o in condition), None)

    def run(data: Any) -> Outcome:
        items = _resolve(data, parts)
        if items is _MISSING or items is None:
            return Outcome(None, None, lambda: f"{path} is unknown")
        if not isinstance(items, list):
            return Outcome(None, items, lambda: f"{path} is not a list")
        selected = items if where is None else [i for i in items if where(i).value is True]
        if key == "count":
            assert count_op is not None
            limit = condition[count_op]
            return Outcome(
                _ordered(count_op, len(selected), limit),
                len(selected),
                lambda: f"{path}: {len(selected)} matching, expected {count_op} {limit}",
            )
        assert inner is not None
        results = [(item, inner(item)) for item in selected]
        return _quantify(key, path, len(selected), results)

    return run


def _quantify(key: str, path: str, total: int, results: list[tuple[Any, Outcome]]) -> Outcome:
    failing = [(item, o) for item, o in results if o.value is False]
    passing = [(item, o) for item, o in results if o.value is True]
    unknown = [(item, o) for item, o in results if o.value is None]
    if key == "every":
        if failing:
            first = failing[0][1]
            return Outcome(
                False,
                [item for item, _ in failing],
                lambda: f"{path}: {len(failing)} of {total} fail: {first.reason}",
            )
        if unknown:
            return Outcome(
                None, [item for item, _ in unknown], lambda: f"{path}: {unknown[0][1].reason}"
            )
        return Outcome(True, total, lambda: f"{path}: all {total} satisfy the condition")
    if key == "some":
        if passing:
            return Outcome(True, passing[0][0], lambda: f"{path}: {passing[0][1].reason}")
        if unknown:
            return Outcome(None, None, lambda: f"{path}: {unknown[0][1].reason}")
        return Outcome(False, total, lambda: f"{path}: none of {total} satisfy the condition")
    # none
    if passing:
        return Outcome(
            False,
            [item for item, _ in passing],
            lambda: f"{path}: {len(passing)} match but none may: {passing[0][1].reason}",
        )
    if unknown:
        return Outcome(None, None, lambda: f"{path}: {unknown[0][1].reason}")
    return Outcome(True, 0, lambda: f"{path}: none of {total} match")


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


_SYMBOLS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _compile_compare(condition: Mapping[str, Any]) -> Evaluator:
    parts = _parts(condition["path"])
    path = _label(condition["path"])
    op = next(o for o in COMPARISONS if o in condition)
    expected = condition[op]
    pattern = re.compile(expected) if op == "matches" else None

    def run(data: Any) -> Outcome:
        value = _resolve(data, parts)
        present = value is not _MISSING and value is not None
        if op == "exists":
            shown = None if value is _MISSING else value
            state = "present" if present else "missing or unknown"
            want = "present" if expected else "absent"
            return Outcome(
                present == expected, shown, lambda: f"{path} is {state}, expected {want}"
            )
        if not present:
            return Outcome(None, None, lambda: f"{path} is unknown")
        return _compared(op, path, value, expected, pattern)

    return run


def _compared(
    op: str, path: str, value: Any, expected: Any, pattern: re.Pattern[str] | None
) -> Outcome:
    if op == "empty":
        if not isinstance(value, list | dict | str):
            return Outcome(None, value, lambda: f"{path} is {value!r}, which has no length")
        want = "empty" if expected else "not empty"
        return Outcome(
            (len(value) == 0) == expected,
            value,
            lambda: f"{path} is {_show(value)}, expected {want}",
        )
    if op in ("equals", "not_equals"):
        word = "" if op == "equals" else "not "
        return Outcome(
            (value == expected) == (op == "equals"),
            value,
            lambda: f"{path} is {_show(value)}, expected {word}{_show(expected)}",
        )
    if op in ("in", "not_in"):
        word = "one of" if op == "in" else "none of"
        return Outcome(
            (value in expected) == (op == "in"),
            value,
            lambda: f"{path} is {_show(value)}, expected {word} {_show(expected)}",
        )
    if op in _SYMBOLS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Outcome(None, value, lambda: f"{path} is {_show(value)}, not a number")
        return Outcome(
            _ordered(op, value, expected),
            value,
            lambda: f"{path} is {value}, expected {_SYMBOLS[op]} {expected}",
        )
    if op == "matches":
        assert pattern is not None
        if not isinstance(value, str):
            return Outcome(None, value, lambda: f"{path} is {_show(value)}, not text")
        return Outcome(
            pattern.fullmatch(value) is not None,
            value,
            lambda: f"{path} is {_show(value)}, expected to match /{expected}/",
        )
    # contains
    if not (isinstance(value, list) or (isinstance(value, str) and isinstance(expected, str))):
        return Outcome(
            None, value, lambda: f"{path} is {_show(value)}, which cannot contain a value"
        )
    return Outcome(
        expected in value,
        value,
        lambda: f"{path} is {_show(value)}, expected to contain {_show(expected)}",
    )


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
