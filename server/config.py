"""Server data directory layout and `server.yaml` configuration."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evidence.durations import parse_duration

if TYPE_CHECKING:
    from server.controls.catalog import Configs


class ConfigError(Exception):
    """A configuration file is missing or invalid; the message names file and key."""


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data dir"
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="largest request body accepted, as sent"
    )
    max_bundle_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="largest bundle accepted after decompression"
    )
    controls_dirs: list[str] = Field(
        default_factory=list,
        description="extra directories with frameworks/ and checks/ (a sector's own), "
        "loaded after the shipped ones",
    )
    default_freshness: str = Field(
        default="7d", description="evidence older than this is stale unless a check says"
    )

    def load_controls(self, data_root: Path) -> Configs:
        """The shipped catalogs and checks plus `controls_dirs` (relative to the data dir)."""
        from collectors.registry import all_collectors
        from server.controls.catalog import default_config_dir, load_configs

        extra = [data_root / directory for directory in self.controls_dirs]
        configs = load_configs([default_config_dir(), *extra], all_collectors())
        return replace(configs, default_freshness=parse_duration(self.default_freshness))


@dataclass(frozen=True)
class DataDir:
    """Where a server keeps its key, TLS material, database and blobs."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / "server.yaml"

    @property
    def server_key(self) -> Path:
        return self.root / "keys" / "server.key"

    @property
    def server_public_key(self) -> Path:
        return self.root / "keys" / "server.pub"

    @property
    def admin_token_hash(self) -> Path:
        return self.root / "keys" / "admin-token.sha256"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def tls_cert(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def tls_key(self) -> Path:
        return self.tls_dir / "server-key.pem"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def sqlite_file(self) -> Path:
        return self.root / "dossier.db"

    def is_initialised(self) -> bool:
        return self.server_key.exists() and self.config_file.exists()

    def require_initialised(self) -> None:
        if not self.is_initialised():
            raise ConfigError(
                f"{self.root} is not an initialised server data directory; "
                f"run 'dossier server init --data {self.root}' first"
            )

    def load_settings(self) -> ServerSettings:
        return load_settings(self.config_file)

    def database_url(self) -> str:
        return self.load_settings().database_url or f"sqlite:///{self.sqlite_file}"


def load_settings(path: Path) -> ServerSettings:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return ServerSettings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation(exc)}") from exc


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        parts.append(f"key '{location}': {error['msg']}")
    return "; ".join(parts)
