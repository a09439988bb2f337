"""Agent configuration: defaults, overrides and errors that name file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_embedded_defaults_load() -> None:
    config = load_config(None)
    assert config.ship.interval == timedelta(seconds=60)
    assert config.spool.max_bytes == 512 * 1024 * 1024
    assert config.collectors["patch.packages"].interval == timedelta(hours=6)


def test_file_overrides_defaults_and_schedules_apply(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "collector_timeout: 5s\n"
        "schedule: {cron: '*/15 * * * *', jitter: 30s}\n"
        "collectors: {access.accounts: {interval: 10m}}\n"
        "disabled: [inventory.system]\n",
    )
    config = load_config(path)
    assert config.collector_timeout == timedelta(seconds=5)
    schedules = config.schedules(["access.accounts", "inventory.system", "patch.packages"])
    assert set(schedules) == {"access.accounts", "patch.packages"}
    assert schedules["access.accounts"].interval == timedelta(minutes=10)
    assert schedules["patch.packages"].cron == "*/15 * * * *"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ship: {interval: soon}\n", "ship.interval"),
        ("spool: {max_bytes: lots}\n", "spool.max_bytes"),
        ("schedule: {interval: 1h, cron: '* * * * *'}\n", "exactly one of 'interval' or 'cron'"),
        ("schedule: {cron: '61 * * * *'}\n", "cron '61 * * * *'"),
        ("schedule: {interval: -5s}\n", "schedule"),
        ("colectors: {}\n", "colectors"),
        ("collectors: {no.such: {interval: 1h}}\n", "'collectors.no.such': unknown collector"),
        ("ship: {retries: 99}\n", "ship.retries"),
        ("collector_workers: 0\n", "collector_workers"),
        ("- a list\n", "expected a mapping at the top level"),
        ("ship: [unclosed\n", "not valid YAML"),
    ],
)
def test_broken_configs_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:")
    assert message in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")
