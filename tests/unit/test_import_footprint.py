"""The agent loads its HTTP stack only when it talks to a server.

requests, urllib3, ssl and charset_normalizer cost about 8 MB; imported after
collection they reuse memory the collectors have freed, which is what keeps one agent
cycle under its RSS target (bench/agent_cycle.py). A top-level import of requests on the
collection path would silently undo that, so it is checked here, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

HTTP_MODULES = ("requests", "urllib3", "charset_normalizer")


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HTTP_MODULES!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_cli_and_collection_path_do_not_load_http() -> None:
    code = (
        "import dossier.cli, agent.runtime, agent.enroll\n"
        "from collectors.registry import all_collectors\n"
        "all_collectors()"
    )
    assert loaded_after(code) == []


def test_shipper_loads_http() -> None:
    # The probe itself must be able to fail: importing the shipper does load requests.
    assert loaded_after("import agent.shipper") == list(HTTP_MODULES)
