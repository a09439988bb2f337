"""patch.packages: dpkg status parsing, rpm output parsing, ground truth from dpkg-query."""

from __future__ import annotations

import os
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.host import LocalHost, RootHost
from collectors.patch.packages import (
    RPM_ARGV,
    STATUS_FIELDS,
    apply_dpkg_updates,
    parse_deb822,
    parse_deb822_chunks,
    parse_dpkg_status,
    parse_rpm_qa,
)
from evidence.canonical import canonical_json, parse_timestamp
from tests.collectors.support import DEBIAN, build_debian_root, collect, file_sources, sha256_file

STATUS_TEXT = (DEBIAN / "dpkg-status").read_text()


def _stanza(name: str) -> str:
    """One real stanza of the fixture, by package name."""
    for stanza in STATUS_TEXT.split("\n\n"):
        if stanza.startswith(f"Package: {name}\n"):
            return stanza + "\n"
    raise KeyError(name)


def test_parse_dpkg_status_fixture() -> None:
    packages = parse_dpkg_status(STATUS_TEXT)
    assert [p.name for p in packages] == [
        "adduser",
        "base-files",
        "bash",
        "bzip2",
        "libc6",
        "libssl3",
        "openssl",
        "passwd",
        "tzdata",
        "util-linux",
    ]
    by_name = {p.name: p for p in packages}
    assert by_name["bash"].model_dump() == {
        "name": "bash",
        "version": "5.2.15-2+b8",
        "architecture": "amd64",
        "source": "bash",  # "bash (5.2.15-2)": the source version is dropped
        "installed_at": None,
    }
    assert by_name["libc6"].source == "glibc"
    assert by_name["passwd"].version == "1:4.13+dfsg1-1+deb12u1"  # epoch kept
    assert by_name["tzdata"].architecture == "all"
    assert by_name["adduser"].source is None


def test_deb822_continuation_lines() -> None:
    bash = parse_deb822(_stanza("bash"))[0]
    assert bash["description"].startswith("GNU Bourne Again SHell\n")
    assert len(bash["description"].splitlines()) > 3
    assert "/etc/bash.bashrc" in bash["conffiles"]
    assert "\n" not in bash["version"]


def test_deb822_keep_drops_other_fields_and_their_continuations() -> None:
    bash = parse_deb822(_stanza("bash"), STATUS_FIELDS)[0]
    assert bash == {
        "package": "bash",
        "status": "install ok installed",
        "architecture": "amd64",
        "source": "bash (5.2.15-2)",
        "version": "5.2.15-2+b8",
    }


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STATUS_TEXT.encode())), max_size=40))
def test_deb822_in_chunks_equals_whole(cuts: list[int]) -> None:
    data = STATUS_TEXT.encode()
    bounds = [0, *sorted(cuts), len(data)]
    chunks = [data[a:b] for a, b in pairwise(bounds)]
    assert parse_deb822_chunks(chunks) == parse_deb822(STATUS_TEXT)
    assert parse_deb822_chunks(chunks, STATUS_FIELDS) == parse_deb822(STATUS_TEXT, STATUS_FIELDS)


def test_deb822_chunks_keep_multibyte_characters_whole() -> None:
    text = "Package: a\nMaintainer: Jérôme Ü <j@example.org>\n\nPackage: b\nVersion: 1\n"
    data = text.encode()
    cut = data.index("é".encode()) + 1  # inside the two bytes of é
    assert parse_deb822_chunks([data[:cut], data[cut:]]) == parse_deb822(text)


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        ("install ok installed", True),
        ("hold ok installed", True),  # held, still installed: dpkg-query says "installed"
        ("deinstall ok config-files", False),
        ("install ok half-configured", False),
        ("install ok unpacked", False),
        ("purge ok not-installed", False),
    ],
)
def test_only_installed_state_is_kept(status: str, kept: bool) -> None:
    stanza = _stanza("bzip2").replace("Status: install ok installed", f"Status: {status}")
    assert [p.name for p in parse_dpkg_status(stanza)] == (["bzip2"] if kept else [])


def test_updates_journal_overrides_status() -> None:
    removed = _stanza("bzip2").replace("install ok installed", "deinstall ok config-files")
    merged = apply_dpkg_updates(parse_deb822(STATUS_TEXT), parse_deb822(removed))
    names = {s["package"] for s in merged if s["status"].endswith(" installed")}
    assert "bzip2" not in names
    assert len(names) == 9


def test_dpkg_updates_directory_on_root_host(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    updates = root / "var/lib/dpkg/updates"
    updates.mkdir()
    removed = _stanza("bzip2").replace("install ok installed", "deinstall ok config-files")
    (updates / "0001").write_text(removed)
    (updates / "tmp.i").write_text("garbage that is not a journal entry\n")
    record = collect("patch.packages", RootHost(root))
    assert record.errors == []
    assert record.facts["count"] == 9
    assert "/var/lib/dpkg/updates/0001" in file_sources(record)


RPM_SAMPLE = (
    "bash\t0:5.1.8-9.el9\tx86_64\t1714564800\n"
    "gpg-pubkey\t0:350d275d-6279464b\t(none)\t1714564900\n"
    "tzdata\t0:2024a-1.el9\tnoarch\t1714564801\n"
    "openssl\t1:3.0.7-27.el9\tx86_64\t1714564802\n"
    "glibc\t0:2.34-100.el9\ti686\t1714564803\n"
    "glibc\t0:2.34-100.el9\tx86_64\t1714564803\n"
    "not a queryformat line\n"
)


def test_parse_rpm_qa() -> None:
    packages, malformed = parse_rpm_qa(RPM_SAMPLE)
    assert malformed == 1
    assert [(p.name, p.architecture) for p in packages] == [
        ("bash", "x86_64"),
        ("glibc", "i686"),
        ("glibc", "x86_64"),
        ("openssl", "x86_64"),
        ("tzdata", "noarch"),
    ]
    openssl = packages[3]
    assert openssl.version == "1:3.0.7-27.el9"
    assert openssl.installed_at == "2024-05-01T12:00:02.000000Z"
    assert openssl.source is None


def test_rpm_queryformat_is_tab_separated() -> None:
    # The parser splits on tabs and reads four fields: the query must ask for exactly that.
    assert RPM_ARGV[:3] == ("rpm", "-qa", "--queryformat")
    assert RPM_ARGV[3].count(r"\t") == 3
    assert RPM_ARGV[3].endswith(r"\n")


SPEC = """Name: dossier-fixture
Version: 1.2.3
Release: 4.el9
Epoch: 2
Summary: fixture package for the rpm parser test
License: MIT
BuildArch: noarch
%description
fixture
%files
"""


def test_rpm_tool_output_from_a_real_rpm_database_parses(tmp_path: Path) -> None:
    """Build a real package with rpmbuild, record it in a fresh rpm database, query it
    with the collector's own queryformat, and parse what rpm printed."""
    top = tmp_path / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    (top / "SPECS" / "f.spec").write_text(SPEC)
    subprocess.run(
        ["rpmbuild", "--define", f"_topdir {top}", "-bb", str(top / "SPECS" / "f.spec")],
        check=True,
        capture_output=True,
    )
    package_file = next((top / "RPMS").rglob("*.rpm"))
    db = tmp_path / "rpmdb"
    subprocess.run(["rpm", "--dbpath", str(db), "--initdb"], check=True)
    before = int(time.time())
    subprocess.run(
        ["rpm", "--dbpath", str(db), "-i", "--justdb", "--nodeps", "--ignoreos", str(package_file)],
        check=True,
        capture_output=True,
    )
    argv = [*RPM_ARGV[:2], "--dbpath", str(db), *RPM_ARGV[2:]]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    packages, malformed = parse_rpm_qa(output)
    assert malformed == 0
    assert [(p.name, p.version, p.architecture) for p in packages] == [
        ("dossier-fixture", "2:1.2.3-4.el9", "noarch")
    ]
    installed = packages[0].installed_at
    assert installed is not None
    assert abs(parse_timestamp(installed).timestamp() - before) < 120


# --- this machine -------------------------------------------------------------------


def test_local_packages_match_dpkg_query() -> None:
    fmt = "${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\n"
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    installed = sorted(row[1:] for row in rows if row[0] == "installed")
    record = collect("patch.packages", LocalHost())
    facts = record.facts
    assert record.errors == []
    assert facts["manager"] == "dpkg"
    assert facts["count"] == len(installed) == len(facts["packages"])
    assert (
        sorted(
            [p["name"], p["version"], p["architecture"], p["source"] or p["name"]]
            for p in facts["packages"]
        )
        == installed
    )
    assert file_sources(record)["/var/lib/dpkg/status"].sha256 == sha256_file(
        Path("/var/lib/dpkg/status")
    )


def test_no_package_database(tmp_path: Path) -> None:
    record = collect("patch.packages", RootHost(tmp_path))
    assert record.facts == {"manager": None, "count": None, "packages": None}
    assert len(record.errors) == 1
    assert record.errors[0].startswith("no package database found")


def test_rpm_host_without_commands(tmp_path: Path) -> None:
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    record = collect("patch.packages", RootHost(tmp_path))
    assert record.facts == {"manager": "rpm", "count": None, "packages": None}
    assert record.errors == [" ".join(RPM_ARGV) + ": commands are not supported on a RootHost"]
    assert record.sources[0].kind == "command"


# --- property tests -----------------------------------------------------------------

_FIELD_LINES = st.lists(
    st.sampled_from(
        ["Package: a", "Status: install ok installed", "Version: 1", "Source: s (1)", " cont", ""]
    )
    | st.text(max_size=20),
    max_size=20,
).map("\n".join)


@given(st.one_of(st.text(), _FIELD_LINES))
def test_dpkg_parser_never_raises(text: str) -> None:
    packages = parse_dpkg_status(text)
    canonical_json([p.model_dump(mode="json") for p in packages])


@given(st.one_of(st.text(), st.lists(st.text(max_size=12), max_size=6).map("\t".join)))
def test_rpm_parser_never_raises(text: str) -> None:
    packages, malformed = parse_rpm_qa(text)
    assert malformed >= 0
    canonical_json([p.model_dump(mode="json") for p in packages])


def test_dpkg_install_times_are_file_list_mtimes_on_this_machine() -> None:
    record = collect("patch.packages", LocalHost())
    packages = {(p["name"], p["architecture"]): p for p in record.facts["packages"]}
    checked = 0
    for (name, arch), package in sorted(packages.items())[:50]:
        for list_name in (f"{name}:{arch}.list", f"{name}.list"):
            path = Path("/var/lib/dpkg/info") / list_name
            if path.exists():
                expected = int(path.stat().st_mtime)
                assert int(parse_timestamp(package["installed_at"]).timestamp()) == expected
                checked += 1
                break
        else:
            assert package["installed_at"] is None
    assert checked > 40


def test_dpkg_install_times_unknown_without_info_dir(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    record = collect("patch.packages", RootHost(root))
    assert record.facts["count"] == 10
    assert all(p["installed_at"] is None for p in record.facts["packages"])
    (root / "var/lib/dpkg/info").mkdir()
    (root / "var/lib/dpkg/info/bash.list").write_text("/bin/bash\n")
    os.utime(root / "var/lib/dpkg/info/bash.list", (1_700_000_000, 1_700_000_000))
    record = collect("patch.packages", RootHost(root))
    times = {p["name"]: p["installed_at"] for p in record.facts["packages"]}
    assert times["bash"] == "2023-11-14T22:13:20.000000Z"
    assert times["openssl"] is None
