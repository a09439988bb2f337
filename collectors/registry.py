"""Collector registry: name → spec, and the safe way to run one."""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from collectors.host import Host
from collectors.provenance import Collection
from evidence.canonical import canonical_json, utc_now_iso
from evidence.records import Category, EvidenceRecord

# Subpackages, one per evidence category, whose modules define collectors; importing
# them fills the registry (a new module there needs no list to be edited).
CATEGORY_PACKAGES = (
    "collectors.inventory",
    "collectors.configuration",
    "collectors.patch",
    "collectors.access",
    "collectors.logs",
    "collectors.security_software",
)

CollectFunction = Callable[[Collection], BaseModel]


@dataclass(frozen=True)
class CollectorSpec:
    name: str
    version: str
    category: Category
    facts_model: type[BaseModel]
    function: CollectFunction
    description: str

    def collect(self, host: Host) -> EvidenceRecord:
        """Run on `host` and return a record; a crash becomes an error in the record."""
        collected_at = utc_now_iso()
        collection = Collection(host)
        facts: dict[str, Any] = {}
        try:
            facts = self.function(collection).model_dump(mode="json")
            # Fail here, inside this record, on values no bundle could carry (for
            # example integers beyond 2**53 read from a hostile file).
            canonical_json(facts)
        except Exception as exc:  # a collector bug must not stop the other collectors
            last = traceback.extract_tb(exc.__traceback__)[-1]
            facts = {}
            collection.error(
                f"collector crashed: {type(exc).__name__}: {exc} "
                f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
            )
        return EvidenceRecord(
            collector=self.name,
            collector_version=self.version,
            category=self.category,
            collected_at=collected_at,
            facts=facts,
            sources=collection.sources,
            errors=collection.errors,
        )

    def facts_schema(self) -> dict[str, Any]:
        return self.facts_model.model_json_schema()


_REGISTRY: dict[str, CollectorSpec] = {}


def collector(
    name: str, *, version: str, category: Category, facts: type[BaseModel]
) -> Callable[[CollectFunction], CollectFunction]:
    """Register `function` as collector `name`; its docstring documents it."""

    def register(function: CollectFunction) -> CollectFunction:
        if name in _REGISTRY:
            raise ValueError(f"collector {name} is registered twice")
        _REGISTRY[name] = CollectorSpec(
            name=name,
            version=version,
            category=category,
            facts_model=facts,
            function=function,
            description=_summary(function.__doc__),
        )
        return function

    return register


def _summary(doc: str | None) -> str:
    """The docstring's first paragraph as one line."""
    first = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines())


def collector_modules() -> list[str]:
    names = []
    for package_name in CATEGORY_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as exc:
            if exc.name != package_name:
                raise
            continue  # a category with no collectors yet
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                names.append(f"{package_name}.{module.name}")
    return sorted(names)


def all_collectors() -> dict[str, CollectorSpec]:
    for module in collector_modules():
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def select(names: list[str] | None) -> list[CollectorSpec]:
    """The named collectors (all when `names` is empty); unknown names raise KeyError."""
    available = all_collectors()
    if not names:
        return list(available.values())
    unknown = [name for name in names if name not in available]
    if unknown:
        raise KeyError(
            f"unknown collector(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    return [available[name] for name in names]
