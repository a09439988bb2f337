"""Shared helpers for collector tests: fixture paths, a planted root tree, running one."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from collectors.host import Host, LocalHost
from collectors.registry import all_collectors
from evidence.records import EvidenceRecord, FileSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEBIAN = FIXTURES / "debian12"
PLANTED = FIXTURES / "planted"

PLANTED_HOSTNAME = "planted-host"
PLANTED_MACHINE_ID = "0123456789abcdef0123456789abcdef"


def collect(name: str, host: Host) -> EvidenceRecord:
    return all_collectors()[name].collect(host)


def file_sources(record: EvidenceRecord) -> dict[str, FileSource]:
    return {s.path: s for s in record.sources if isinstance(s, FileSource)}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_debian_root(root: Path) -> Path:
    """A small Debian-shaped tree: the fixture files plus planted accounts.

    Planted: `toor` (a second uid 0), `emptyuser` (empty password), `alice` (primary
    group sudo), `legacy` (DES hash), and cloudsdk as a supplementary member of adm.
    /etc/os-release is a relative symlink to /usr/lib/os-release, as on Debian.
    """
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(_joined(DEBIAN / "passwd", PLANTED / "passwd-extra"))
    (etc / "shadow").write_text(_joined(DEBIAN / "shadow", PLANTED / "shadow-extra"))
    group = _joined(DEBIAN / "group", PLANTED / "group-extra")
    assert "\nadm:x:4:\n" in group
    (etc / "group").write_text(group.replace("\nadm:x:4:\n", "\nadm:x:4:cloudsdk\n"))
    (etc / "hostname").write_text(PLANTED_HOSTNAME + "\n")
    (etc / "machine-id").write_text(PLANTED_MACHINE_ID + "\n")
    usr_lib = root / "usr" / "lib"
    usr_lib.mkdir(parents=True)
    shutil.copy(DEBIAN / "os-release", usr_lib / "os-release")
    (etc / "os-release").symlink_to("../usr/lib/os-release")
    dpkg = root / "var" / "lib" / "dpkg"
    dpkg.mkdir(parents=True)
    shutil.copy(DEBIAN / "dpkg-status", dpkg / "status")
    return root


def _joined(*paths: Path) -> str:
    return "".join(path.read_text() for path in paths)


class NoPsutilLocalHost(LocalHost):
    """This machine seen the way an SSHHost sees one: files and commands, no psutil."""

    def psutil(self) -> None:
        return None
