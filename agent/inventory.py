"""The agentless inventory: which hosts to collect over SSH, and how to reach them.

```yaml
defaults:                 # every key optional; each host may override any of them
  user: root
  port: 22
  identity: keys/collector_ed25519     # relative paths are relative to this file
  known_hosts: known_hosts             # required (here or per host): strict checking
  sudo: false
  connect_timeout: 10s
hosts:
  - name: db01                         # unique; the host's identity in the evidence
    host: 10.0.0.5
    groups: [database]
    labels: {zone: dmz}
```
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.config import ConfigError, Duration
from collectors.ssh import SSHTarget
from evidence.bundle import ID_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetDefaults(_Strict):
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    identity: Path | None = None
    known_hosts: Path | None = None
    use_agent: bool = False
    sudo: bool = False
    connect_timeout: Duration = timedelta(seconds=10)


class InventoryHost(_Strict):
    name: str = Field(pattern=ID_PATTERN)
    host: str = Field(min_length=1)
    user: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    identity: Path | None = None
    known_hosts: Path | None = None
    use_agent: bool | None = None
    sudo: bool | None = None
    connect_timeout: Duration | None = None
    groups: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class Inventory(_Strict):
    defaults: TargetDefaults = TargetDefaults()
    hosts: list[InventoryHost] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Inventory:
        seen: set[str] = set()
        for host in self.hosts:
            if host.name in seen:
                raise ValueError(f"host name {host.name!r} appears twice; names must be unique")
            seen.add(host.name)
        return self

    def targets(self, base: Path, groups: list[str] | None = None) -> list[SSHTarget]:
        """SSH targets of the hosts (in `groups`, when given), paths made absolute."""
        chosen = [h for h in self.hosts if not groups or set(groups) & set(h.groups)]
        return [self._target(host, base) for host in chosen]

    def _target(self, host: InventoryHost, base: Path) -> SSHTarget:
        d = self.defaults
        known_hosts = host.known_hosts or d.known_hosts
        if known_hosts is None:
            raise ConfigError(
                f"host {host.name}: no known_hosts file (set defaults.known_hosts or "
                f"hosts[].known_hosts); host keys are always checked"
            )
        identity = host.identity or d.identity
        timeout = host.connect_timeout or d.connect_timeout
        return SSHTarget(
            host=host.host,
            user=host.user or d.user,
            port=host.port or d.port,
            known_hosts=base / known_hosts,
            identity_file=base / identity if identity else None,
            use_agent=d.use_agent if host.use_agent is None else host.use_agent,
            sudo=d.sudo if host.sudo is None else host.sudo,
            connect_timeout=timeout.total_seconds(),
            name=host.name,
        )


def load_inventory(path: Path) -> Inventory:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'hosts' at the top level")
    try:
        return Inventory.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        raise ConfigError(f"{path}: key '{location}': {error['msg']}") from exc
