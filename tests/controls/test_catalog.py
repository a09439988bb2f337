"""Catalogs and checks load, cross-validate, and fail with precise messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.registry import all_collectors
from server.controls.catalog import default_config_dir, load_configs
from server.controls.errors import CatalogError

CATALOG: dict[str, Any] = {
    "framework": {
        "id": "sector-x",
        "title": {"en": "Sector X rules", "zh": "X 行业规则"},
        "source": "Sector X protection department notice",
        "version": "2026",
    },
    "controls": [
        {
            "id": "X.1",
            "title": {"en": "Accounts", "zh": "账户"},
            "summary": {"en": "Accounts are controlled.", "zh": "账户受控。"},
        },
        {
            "id": "X.1.a",
            "parent": "X.1",
            "title": {"en": "No second root", "zh": "无第二个 root"},
            "summary": {"en": "Only root has uid 0.", "zh": "仅 root 的 uid 为 0。"},
            "evidence": "automated",
        },
        {
            "id": "X.2",
            "title": {"en": "Policy", "zh": "制度"},
            "summary": {"en": "A written policy.", "zh": "书面制度。"},
            "evidence": "document",
        },
    ],
}
CHECK: dict[str, Any] = {
    "id": "accounts.only_root_uid0",
    "title": {"en": "Only root has uid 0", "zh": "仅 root 的 uid 为 0"},
    "collector": "access.accounts",
    "condition": {"path": "facts.uid0_accounts", "equals": ["root"]},
    "severity": "high",
    "freshness": "1d",
    "maps_to": {"sector-x": ["X.1.a"]},
    "remediation": {"en": "Remove the extra uid 0 accounts.", "zh": "删除多余的 uid 0 账户。"},
}


def write(root: Path, catalog: Any = CATALOG, checks: Any = None) -> Path:
    (root / "frameworks").mkdir(parents=True, exist_ok=True)
    (root / "checks").mkdir(exist_ok=True)
    (root / "frameworks" / "sector-x.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True))
    (root / "checks" / "x.yaml").write_text(
        yaml.safe_dump([CHECK] if checks is None else checks, allow_unicode=True)
    )
    return root


def test_a_sector_catalog_loads_from_its_own_directory(tmp_path: Path) -> None:
    configs = load_configs([write(tmp_path)], all_collectors())
    assert list(configs.catalogs) == ["sector-x"]
    assert [c.id for c in configs.catalogs["sector-x"].children("X.1")] == ["X.1.a"]
    assert configs.checks[0].window().days == 1


def test_the_shipped_catalogs_and_checks_cross_validate() -> None:
    configs = load_configs([default_config_dir()], all_collectors())
    assert {"cii-2021", "csl-2017", "mlps2-l3"} <= set(configs.catalogs)
    assert len(configs.checks) >= 40
    for framework, catalog in configs.catalogs.items():
        for control in catalog.controls:
            if control.evidence in ("automated", "both"):
                assert configs.checks_for(framework, control.id), (framework, control.id)


def _broken(**changes: Any) -> dict[str, Any]:
    return {**CHECK, **changes}


@pytest.mark.parametrize(
    ("catalog", "checks", "message"),
    [
        (
            {
                **CATALOG,
                "controls": [*CATALOG["controls"], {**CATALOG["controls"][2], "evidence": "paper"}],
            },
            None,
            "control X.2, field 'evidence'",
        ),
        (
            {**CATALOG, "controls": [{**CATALOG["controls"][1], "parent": "X.9"}]},
            None,
            "control X.1.a, field 'parent': no control X.9",
        ),
        (
            {**CATALOG, "controls": [*CATALOG["controls"], CATALOG["controls"][0]]},
            None,
            "control X.1 appears twice",
        ),
        (
            {**CATALOG, "controls": [{**CATALOG["controls"][1], "title": {"en": "only English"}}]},
            None,
            "control X.1.a, field 'title.zh'",
        ),
        (
            CATALOG,
            [_broken(maps_to={"sector-x": ["X.7"]})],
            "field 'maps_to.sector-x': no control X.7",
        ),
        (CATALOG, [_broken(maps_to={"nist": ["AC-2"]})], "field 'maps_to': unknown framework nist"),
        (CATALOG, [_broken(maps_to={"sector-x": ["X.2"]})], "control X.2 takes documents"),
        (CATALOG, [_broken(collector="access.nothing")], "unknown collector access.nothing"),
        (
            CATALOG,
            [_broken(condition={"path": "facts.x", "like": "%"})],
            "check accounts.only_root_uid0, field 'condition'",
        ),
        (CATALOG, [_broken(severity="urgent")], "field 'severity'"),
        (CATALOG, [], "control X.1.a is automated but no check maps to it"),
        (CATALOG, [CHECK, CHECK], "check accounts.only_root_uid0 is already defined"),
    ],
)
def test_broken_configs_are_named(tmp_path: Path, catalog: Any, checks: Any, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        load_configs([write(tmp_path, catalog, checks)], all_collectors())
    assert message in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "checks" / "x.yaml").write_text("- id: [unclosed\n")
    with pytest.raises(CatalogError, match=r"x\.yaml: not valid YAML"):
        load_configs([tmp_path], all_collectors())
