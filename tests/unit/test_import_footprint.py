"""What one agent cycle loads, checked in a fresh interpreter.

The agent loads its HTTP stack only when it talks to a server: requests, urllib3, ssl and
charset_normalizer cost about 8 MB, and imported after collection they reuse memory the
collectors have freed. Its key is read without cryptography's serialization package
(OpenSSH key code and bcrypt, 1.5 MB). Both keep one cycle under its RSS target
(bench/agent_cycle.py), and a stray top-level import would silently undo them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evidence.keys import SigningKey

HTTP_MODULES = ("requests", "urllib3", "charset_normalizer")
KEY_SERIALIZATION = ("cryptography.hazmat.primitives.serialization", "bcrypt")
WATCHED = HTTP_MODULES + KEY_SERIALIZATION


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {WATCHED!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_cli_collection_and_key_loading_load_neither(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.key"
    SigningKey.generate().save(key_file)
    code = (
        "import dossier.cli, agent.runtime, agent.enroll\n"
        "from collectors.registry import all_collectors\n"
        "from evidence.keys import SigningKey\n"
        "all_collectors()\n"
        f"SigningKey.load(__import__('pathlib').Path({str(key_file)!r})).sign(b'x')"
    )
    assert loaded_after(code) == []


def test_the_probe_sees_them_when_they_are_loaded() -> None:
    assert loaded_after("import agent.shipper") == list(HTTP_MODULES)
    assert loaded_after("import cryptography.hazmat.primitives.serialization") == list(
        KEY_SERIALIZATION
    )
