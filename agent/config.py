"""Agent configuration: YAML validated into typed settings, with errors naming file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from evidence.durations import parse_duration, parse_size

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


class ConfigError(Exception):
    """The configuration file is missing or invalid; the message names file and key."""


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected a duration such as 90s, 15m or 6h")


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a size such as 512MiB")
    return parse_size(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSection(_Section):
    url: str | None = None
    ca_file: Path | None = None


class ShipSection(_Section):
    interval: Duration = timedelta(seconds=60)
    timeout: Duration = timedelta(seconds=30)
    retries: int = Field(default=4, ge=0, le=20)


class SpoolSection(_Section):
    max_bytes: Size = 512 * 1024 * 1024


class Schedule(_Section):
    """Either `interval` or `cron` (5 fields, local time), plus optional `jitter`."""

    interval: Duration | None = None
    cron: str | None = None
    jitter: Duration = timedelta(0)

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("give exactly one of 'interval' or 'cron'")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("interval must be positive")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from exc
        return self


class AgentConfig(_Section):
    server: ServerSection = ServerSection()
    collector_timeout: Duration = timedelta(seconds=120)
    # The agent is a guest on a production host: a few collectors at a time keep its
    # CPU burst and peak memory small, at little cost in wall time (most wait on I/O).
    collector_workers: int = Field(default=2, ge=1, le=32)
    ship: ShipSection = ShipSection()
    spool: SpoolSection = SpoolSection()
    schedule: Schedule = Schedule(interval=timedelta(hours=1), jitter=timedelta(minutes=5))
    collectors: dict[str, Schedule] = Field(default_factory=dict)
    disabled: list[str] = Field(default_factory=list)

    def schedules(self, registered: list[str]) -> dict[str, Schedule]:
        """The schedule of every registered collector this agent runs."""
        return {
            name: self.collectors.get(name, self.schedule)
            for name in registered
            if name not in self.disabled
        }


def load_config(path: Path | None) -> AgentConfig:
    """Load `path` over the embedded defaults (a section given replaces the default one).

    With no path, the embedded defaults are used as they are.
    """
    defaults = _read_yaml(DEFAULTS_FILE)
    merged = dict(defaults)
    if path is not None:
        merged.update(_read_yaml(path))
    source = path or DEFAULTS_FILE
    try:
        config = AgentConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc
    from collectors.registry import all_collectors

    known = all_collectors()
    unknown = sorted(set(config.collectors) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: key 'collectors.{unknown[0]}': unknown collector; known: {', '.join(known)}"
        )
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"key '{location}': {message}")
    return "; ".join(parts)
