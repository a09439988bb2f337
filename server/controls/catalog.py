"""Framework catalogs and checks: data under configs/, validated and cross-checked on load.

Catalog `configs/frameworks/<id>.yaml`: `framework` metadata and a flat list of controls
(`parent` builds the tree). Checks `configs/checks/*.yaml`: a list of checks, each a
condition over one collector's facts that maps to controls of one or more frameworks.
A sector adds its own files to another directory and loads both (`load_configs`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evidence.durations import parse_duration
from server.controls.conditions import ConditionError, validate
from server.controls.errors import CatalogError

CONTROL_ID = r"^[A-Za-z0-9][A-Za-z0-9.()_-]{0,63}$"
FRAMEWORK_ID = r"^[a-z0-9][a-z0-9-]{1,47}$"
CHECK_ID = r"^[a-z0-9][a-z0-9_.-]{2,95}$"
DEFAULT_FRESHNESS = timedelta(days=7)

EvidenceKind = Literal["automated", "document", "both"]
Severity = Literal["info", "low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """Bilingual text: Simplified Chinese and English, both required."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class Framework(_Strict):
    id: str = Field(pattern=FRAMEWORK_ID)
    title: Text
    source: str = Field(min_length=1)  # the instrument: law, regulation or standard
    version: str = Field(min_length=1)


class Control(_Strict):
    """A control. `evidence` None marks a heading that only groups its children."""

    id: str = Field(pattern=CONTROL_ID)
    parent: str | None = None
    title: Text
    summary: Text  # our own paraphrase, never the standard's text
    evidence: EvidenceKind | None = None


class Catalog(_Strict):
    framework: Framework
    controls: list[Control] = Field(min_length=1)

    def control(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)

    def children(self, control_id: str | None) -> list[Control]:
        return [c for c in self.controls if c.parent == control_id]


class Check(_Strict):
    id: str = Field(pattern=CHECK_ID)
    title: Text
    collector: str = Field(min_length=1)
    when: dict[str, Any] | None = None
    condition: dict[str, Any]
    severity: Severity
    freshness: timedelta | None = None
    maps_to: dict[str, list[str]] = Field(min_length=1)
    remediation: Text
    rationale: str | None = None

    @field_validator("freshness", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        return value

    @field_validator("when", "condition")
    @classmethod
    def _condition(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                validate(value)
            except ConditionError as exc:
                raise ValueError(str(exc)) from exc
        return value

    def window(self, default: timedelta = DEFAULT_FRESHNESS) -> timedelta:
        return self.freshness or default


@dataclass(frozen=True)
class Configs:
    catalogs: dict[str, Catalog]
    checks: list[Check]
    default_freshness: timedelta = DEFAULT_FRESHNESS

    def checks_for(self, framework: str, control_id: str) -> list[Check]:
        return [c for c in self.checks if control_id in c.maps_to.get(framework, [])]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc


def _describe(exc: ValidationError, item: str) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "(root)"
    return f"{item}, field '{location}': {error['msg']}"


def load_catalog(path: Path) -> Catalog:
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or "controls" not in raw:
        raise CatalogError(f"{path}: expected a mapping with 'framework' and 'controls'")
    controls = raw.get("controls")
    if isinstance(controls, list):
        for index, control in enumerate(controls):
            label = control.get("id") if isinstance(control, dict) else None
            try:
                Control.model_validate(control)
            except ValidationError as exc:
                name = f"control {label or '#' + str(index)}"
                raise CatalogError(f"{path}: {_describe(exc, name)}") from exc
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc, 'catalog')}") from exc
    seen: set[str] = set()
    for control in catalog.controls:
        if control.id in seen:
            raise CatalogError(f"{path}: control {control.id} appears twice")
        seen.add(control.id)
    for control in catalog.controls:
        if control.parent is not None and control.parent not in seen:
            raise CatalogError(
                f"{path}: control {control.id}, field 'parent': no control {control.parent}"
            )
    return catalog


def load_checks(path: Path) -> list[Check]:
    raw = _read_yaml(path)
    if not isinstance(raw, list):
        raise CatalogError(f"{path}: expected a list of checks")
    checks = []
    for index, item in enumerate(raw):
        label = item.get("id") if isinstance(item, dict) else None
        try:
            checks.append(Check.model_validate(item))
        except ValidationError as exc:
            name = f"check {label or '#' + str(index)}"
            raise CatalogError(f"{path}: {_describe(exc, name)}") from exc
    return checks


def load_configs(directories: Iterable[Path], collectors: Iterable[str] | None = None) -> Configs:
    """Load `frameworks/*.yaml` and `checks/*.yaml` of each directory and cross-check:
    unique ids, every `maps_to` control exists, every automated control has a check,
    every check names a known collector (when `collectors` is given)."""
    catalogs: dict[str, Catalog] = {}
    sources: dict[str, Path] = {}
    checks: list[Check] = []
    check_sources: dict[str, Path] = {}
    for directory in directories:
        if not directory.is_dir():
            raise CatalogError(f"{directory}: not a directory")
        for path in sorted((directory / "frameworks").glob("*.yaml")):
            catalog = load_catalog(path)
            framework = catalog.framework.id
            if framework in catalogs:
                raise CatalogError(
                    f"{path}: framework {framework} is already defined in {sources[framework]}"
                )
            catalogs[framework], sources[framework] = catalog, path
        for path in sorted((directory / "checks").glob("*.yaml")):
            for check in load_checks(path):
                if check.id in check_sources:
                    raise CatalogError(
                        f"{path}: check {check.id} is already defined in {check_sources[check.id]}"
                    )
                check_sources[check.id] = path
                checks.append(check)
    known = set(collectors) if collectors is not None else None
    for check in checks:
        where = f"{check_sources[check.id]}: check {check.id}"
        if known is not None and check.collector not in known:
            raise CatalogError(f"{where}, field 'collector': unknown collector {check.collector}")
        for framework, ids in check.maps_to.items():
            target = catalogs.get(framework)
            if target is None:
                raise CatalogError(f"{where}, field 'maps_to': unknown framework {framework}")
            for control_id in ids:
                control = target.control(control_id)
                if control is None:
                    raise CatalogError(
                        f"{where}, field 'maps_to.{framework}': no control {control_id}"
                    )
                if control.evidence in (None, "document"):
                    takes = "no evidence (a heading)" if control.evidence is None else "documents"
                    raise CatalogError(
                        f"{where}, field 'maps_to.{framework}': control {control_id} takes {takes}"
                    )
    configs = Configs(catalogs, checks)
    for framework, catalog in catalogs.items():
        for control in catalog.controls:
            if control.evidence in ("automated", "both") and not configs.checks_for(
                framework, control.id
            ):
                raise CatalogError(
                    f"{sources[framework]}: control {control.id} is {control.evidence} "
                    "but no check maps to it"
                )
    return configs


def default_config_dir() -> Path:
    """The catalogs and checks shipped with Dossier (configs/ of the source tree)."""
    return Path(__file__).resolve().parents[2] / "configs"
