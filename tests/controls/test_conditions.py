"""The condition language: every operator, three-valued logic, quantifiers, validation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.controls.conditions import ConditionError, evaluate, validate

RECORD: dict[str, Any] = {
    "facts": {
        "settings": {"permitrootlogin": "yes", "maxauthtries": 6, "ciphers": ["aes256-ctr"]},
        "uid0_accounts": ["root", "toor"],
        "unknown": None,
        "key_logs": [
            {"path": "/var/log/auth.log", "retention_days": 28, "meets": False},
            {"path": "/var/log/syslog", "retention_days": 365, "meets": True},
        ],
        "empty": [],
    }
}


def run(condition: dict[str, Any]) -> tuple[bool | None, Any, str]:
    validate(condition)
    outcome = evaluate(condition, RECORD)
    return outcome.value, outcome.observed, outcome.reason


@pytest.mark.parametrize(
    ("condition", "value"),
    [
        ({"path": "facts.settings.permitrootlogin", "equals": "no"}, False),
        ({"path": "facts.settings.permitrootlogin", "not_equals": "no"}, True),
        ({"path": "facts.settings.permitrootlogin", "in": ["no", "prohibit-password"]}, False),
        ({"path": "facts.settings.permitrootlogin", "not_in": ["no"]}, True),
        ({"path": "facts.settings.maxauthtries", "le": 5}, False),
        ({"path": "facts.settings.maxauthtries", "lt": 7}, True),
        ({"path": "facts.settings.maxauthtries", "ge": 6}, True),
        ({"path": "facts.settings.maxauthtries", "gt": 6}, False),
        ({"path": "facts.settings.permitrootlogin", "matches": "y.s"}, True),
        ({"path": "facts.settings.permitrootlogin", "matches": "y"}, False),  # full match
        ({"path": "facts.uid0_accounts", "contains": "toor"}, True),
        ({"path": "facts.uid0_accounts", "empty": False}, True),
        ({"path": "facts.empty", "empty": True}, True),
        ({"path": "facts.settings", "exists": True}, True),
        ({"path": "facts.nothing", "exists": False}, True),
        ({"path": "facts.unknown", "exists": True}, False),
        ({"path": "facts.uid0_accounts.1", "equals": "toor"}, True),
    ],
)
def test_comparisons(condition: dict[str, Any], value: bool) -> None:
    assert run(condition)[0] is value


def test_reason_names_observed_and_expected() -> None:
    value, observed, reason = run(
        {"path": "facts.settings.permitrootlogin", "in": ["no", "prohibit-password"]}
    )
    assert (value, observed) == (False, "yes")
    assert reason == (
        "facts.settings.permitrootlogin is 'yes', expected one of ['no', 'prohibit-password']"
    )


def test_unknown_facts_are_undecided_not_false() -> None:
    assert run({"path": "facts.unknown", "equals": 1})[0] is None
    assert run({"path": "facts.absent.deeper", "le": 3})[0] is None
    assert run({"not": {"path": "facts.unknown", "equals": 1}})[0] is None
    # ... but a decided part decides: all() with a False, any() with a True.
    assert (
        run(
            {
                "all": [
                    {"path": "facts.unknown", "equals": 1},
                    {"path": "facts.empty", "empty": False},
                ]
            }
        )[0]
        is False
    )
    assert (
        run(
            {
                "any": [
                    {"path": "facts.unknown", "equals": 1},
                    {"path": "facts.empty", "empty": True},
                ]
            }
        )[0]
        is True
    )
    assert (
        run(
            {
                "all": [
                    {"path": "facts.unknown", "equals": 1},
                    {"path": "facts.empty", "empty": True},
                ]
            }
        )[0]
        is None
    )


def test_quantifiers_over_lists() -> None:
    auth = {"path": "path", "equals": "/var/log/auth.log"}
    assert (
        run(
            {
                "every": "facts.key_logs",
                "where": auth,
                "condition": {"path": "meets", "equals": True},
            }
        )[0]
        is False
    )
    value, observed, reason = run(
        {"every": "facts.key_logs", "condition": {"path": "retention_days", "ge": 180}}
    )
    assert value is False and observed == [RECORD["facts"]["key_logs"][0]]
    assert "1 of 2 fail" in reason and "retention_days is 28, expected >= 180" in reason
    assert (
        run({"some": "facts.key_logs", "condition": {"path": "meets", "equals": True}})[0] is True
    )
    assert (
        run({"none": "facts.key_logs", "condition": {"path": "retention_days", "lt": 7}})[0] is True
    )
    assert run({"count": "facts.uid0_accounts", "le": 1})[0] is False
    assert run({"count": "facts.key_logs", "where": auth, "equals": 1})[0] is True
    # An empty selection: every() holds, some() does not.
    nothing = {"path": "path", "equals": "/nowhere"}
    assert run({"every": "facts.key_logs", "where": nothing, "condition": auth})[0] is True
    assert run({"some": "facts.key_logs", "where": nothing, "condition": auth})[0] is False
    assert run({"every": "facts.unknown", "condition": auth})[0] is None


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"path": "facts.x"}, "exactly one operator"),
        ({"path": "facts.x", "equals": 1, "in": [1]}, "exactly one operator"),
        ({"path": "facts..x", "equals": 1}, "dotted path"),
        ({"path": "facts.x", "in": "abc"}, "expected a list"),
        ({"path": "facts.x", "le": "5"}, "expected a number"),
        ({"path": "facts.x", "matches": "("}, "invalid regular expression"),
        ({"all": []}, "non-empty list"),
        ({"all": [{"path": "a", "equals": 1}], "path": "b"}, "no sibling keys"),
        ({"every": "facts.x"}, "takes 'condition'"),
        ({"count": "facts.x", "le": 1.5}, "integer"),
        ({"eval": "__import__('os')"}, "expected 'path'"),
        ("facts.x == 1", "expected a mapping"),
    ],
)
def test_malformed_conditions_are_named(condition: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        validate(condition)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    data=JSON, op=st.sampled_from(["equals", "in", "le", "contains", "empty", "exists", "matches"])
)
def test_evaluation_never_raises_on_any_facts(data: Any, op: str) -> None:
    operand: Any = {
        "equals": 1,
        "in": [1, "a"],
        "le": 3,
        "contains": "a",
        "empty": True,
        "exists": True,
        "matches": "a.*",
    }[op]
    for path in ("facts", "facts.a", "facts.a.0", "facts.a.b"):
        outcome = evaluate({"path": path, op: operand}, {"facts": data})
        assert outcome.value in (True, False, None) and outcome.reason
        quantified = evaluate(
            {"every": path, "condition": {"path": "a", op: operand}}, {"facts": data}
        )
        assert quantified.value in (True, False, None)


def test_list_paths_reach_keys_with_dots_and_at_is_the_item() -> None:
    record = {
        "facts": {"sysctl": {"net.ipv4.ip_forward": 0}, "ciphers": ["aes256-ctr", "aes128-cbc"]}
    }
    reach = {"path": ["facts", "sysctl", "net.ipv4.ip_forward"], "equals": 0}
    validate(reach)
    assert evaluate(reach, record).value is True
    assert "facts.sysctl.net.ipv4.ip_forward is 0" in evaluate(reach, record).reason
    weak = {"none": "facts.ciphers", "condition": {"path": "@", "matches": ".*-cbc"}}
    validate(weak)
    outcome = evaluate(weak, record)
    assert (outcome.value, outcome.observed) == (False, ["aes128-cbc"])
    with pytest.raises(ConditionError, match="list of keys"):
        validate({"path": ["facts", ""], "equals": 1})
