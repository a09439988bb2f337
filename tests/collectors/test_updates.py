"""patch.updates: dpkg version order vs dpkg itself, apt lists vs apt, logs, a planted tree."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.host import CommandResult, FileStat, LocalHost, RootHost
from collectors.patch.packages import parse_deb822
from collectors.patch.updates import (
    RPM_QUERYFORMAT,
    DecompressError,
    IndexedList,
    IndexEntry,
    Installed,
    ReleaseInfo,
    compare_versions,
    compute_updates,
    decompress,
    installed_from_status,
    iter_decompressed,
    kernel_outdated,
    list_base_name,
    list_priority,
    lz4_frame_decompress,
    parse_apt_history,
    parse_dnf_check_update,
    parse_dpkg_log,
    parse_needs_restarting,
    parse_packages_chunks,
    parse_packages_index,
    parse_release,
    parse_rpm_rows,
    parse_updateinfo_security,
    release_for,
    repomd_timestamp,
    rotated_logs,
    split_nevra,
)
from evidence.canonical import canonical_json
from tests.collectors.support import collect, file_sources
from tests.debian_root import copy_tree, debian_tree

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "patch"
SECURITY_LIST = FIXTURES / "bookworm-security_main_binary-amd64_Packages"
SECURITY_RELEASE = FIXTURES / "bookworm-security_InRelease"
APT_LISTS = Path("/var/lib/apt/lists")
SECURITY_PREFIX = "deb.debian.org_debian-security_dists_bookworm-security"


# --- version comparison against dpkg --------------------------------------------------


def dpkg_compare(a: str, b: str) -> int:
    for op, answer in (("lt", -1), ("eq", 0)):
        done = subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False)
        if done.returncode == 0:
            return answer
        assert done.returncode == 1, (a, b)
    return 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0~rc1", "1.0", -1),  # ~ sorts before the end of the string
        ("1.0", "1.0+b1", -1),
        ("1:0.1", "2.0", 1),  # epoch wins
        ("1.0-1", "1.0-1~bpo1", 1),
        ("2.36-9+deb12u10", "2.36-9+deb12u9", 1),  # numeric, not lexical
        ("1.0a", "1.0+", -1),  # letters before other symbols
        ("0001.0", "1.0", 0),  # leading zeros
        ("1.0", "1.0-0", 0),  # an absent revision equals "0"
        ("20250419~deb12u2", "20230311+deb12u1", 1),
        ("2026f-0+deb12u1", "2026b-0+deb12u1", 1),
    ],
)
def test_compare_known_pairs(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected
    assert dpkg_compare(a, b) == expected  # the table itself is checked against dpkg


_UPSTREAM_CHARS = "0123456789.+~ab"
_parts = st.text(alphabet=_UPSTREAM_CHARS, min_size=0, max_size=6)


@st.composite
def debian_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.one_of(st.just(""), st.integers(0, 3).map(lambda e: f"{e}:")))
    upstream = draw(st.integers(0, 12).map(str)) + draw(_parts)
    revision = draw(st.one_of(st.just(""), _parts.map(lambda r: "-" + (r or "0"))))
    if revision:  # a hyphen inside upstream is valid only when a revision follows
        upstream += draw(st.sampled_from(["", "-1", "-a"]))
    return epoch + upstream + revision


@st.composite
def version_pairs(draw: st.DrawFn) -> tuple[str, str]:
    a = draw(debian_versions())
    # Half the pairs are near-misses of each other, where ordering subtleties live.
    if draw(st.booleans()):
        return a, draw(debian_versions())
    tail = draw(st.sampled_from(["", "~", "~1", "+b1", ".0", "a", "0", "-1", "+"]))
    return a, a + tail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(version_pairs())
def test_compare_matches_dpkg(pair: tuple[str, str]) -> None:
    a, b = pair
    assert compare_versions(a, b) == dpkg_compare(a, b), pair


@given(st.text(max_size=20), st.text(max_size=20))
def test_compare_is_total_and_antisymmetric(a: str, b: str) -> None:
    assert compare_versions(a, b) == -compare_versions(b, a)
    assert compare_versions(a, a) == 0


# --- decompression --------------------------------------------------------------------


def test_lz4_fixture_made_by_the_lz4_tool() -> None:
    packed = (FIXTURES / "bookworm-security_main_binary-amd64_Packages.lz4").read_bytes()
    assert lz4_frame_decompress(packed) == SECURITY_LIST.read_bytes()
    assert decompress("x_Packages.lz4", packed) == SECURITY_LIST.read_bytes()


def test_decompression_matches_apt_on_this_machine() -> None:
    # .ci/run makes sure apt has lists (on this Debian image they are LZ4 frames).
    lists = sorted(APT_LISTS.glob("*_Packages*"))
    assert lists, "apt has no cached lists here: run apt-get update"
    for path in lists:
        expected = subprocess.run(
            ["/usr/lib/apt/apt-helper", "cat-file", str(path)], capture_output=True, check=True
        ).stdout
        assert decompress(path.name, path.read_bytes()) == expected, path


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=30),
    st.lists(st.integers(0, 29), max_size=60),
    st.sampled_from([["-1"], ["-9"], ["-1", "-BD", "-B4"], ["-9", "--content-size", "-BX"]]),
)
def test_lz4_decoder_matches_the_lz4_tool(
    pieces: list[bytes], order: list[int], flags: list[str]
) -> None:
    # Repeated pieces produce long and overlapping matches, as in real lists.
    data = b"".join(pieces[i % len(pieces)] for i in order) * 3 + pieces[0] * 70
    packed = subprocess.run(
        ["lz4", "-c", "-q", *flags], input=data, capture_output=True, check=True
    ).stdout
    assert lz4_frame_decompress(packed) == data


def test_gzip_and_xz_lists_and_limits() -> None:
    import gzip
    import lzma

    raw = SECURITY_LIST.read_bytes()
    assert decompress("a_Packages.gz", gzip.compress(raw)) == raw
    assert decompress("a_Packages.xz", lzma.compress(raw)) == raw
    with pytest.raises(DecompressError):
        decompress("a_Packages.gz", gzip.compress(raw), limit=100)
    with pytest.raises(DecompressError):
        lz4_frame_decompress(
            (FIXTURES / "bookworm-security_main_binary-amd64_Packages.lz4").read_bytes(), 100
        )
    with pytest.raises(DecompressError):
        decompress("a_Packages.gz", b"not gzip")


@given(st.binary(max_size=200))
def test_lz4_garbage_never_crashes(data: bytes) -> None:
    with contextlib.suppress(DecompressError):
        lz4_frame_decompress(b"\x04\x22\x4d\x18\x64\x40\xa7" + data, limit=10_000)


# --- apt lists and Release files --------------------------------------------------------


def test_parse_packages_fixture() -> None:
    entries, stanzas = parse_packages_index(SECURITY_LIST.read_bytes(), "amd64")
    assert stanzas == 7
    by_name = {e.name: e for e in entries}
    assert by_name["libssl3"].version == "3.0.22-1~deb12u2"
    assert by_name["openssh-server"].version == "1:9.2p1-2+deb12u9"
    assert by_name["tzdata"].architecture == "amd64"  # "all" counts as the list's arch
    wanted, _ = parse_packages_index(SECURITY_LIST.read_bytes(), "amd64", {"sudo", "nope"})
    assert [e.name for e in wanted] == ["sudo"]


@given(st.lists(st.integers(1, 700), max_size=40))
def test_chunked_parse_equals_whole_parse(cuts: list[int]) -> None:
    data = SECURITY_LIST.read_bytes()
    chunks, position = [], 0
    for size in cuts:
        chunks.append(data[position : position + size])
        position += size
    chunks.append(data[position:])
    assert parse_packages_chunks(chunks, "amd64") == parse_packages_index(data, "amd64")


def test_streaming_decompression_keeps_chunks_small() -> None:
    import gzip
    import lzma

    raw = SECURITY_LIST.read_bytes() * 800  # ~4.5 MB
    for name, packed in (
        ("a_Packages.gz", gzip.compress(raw)),
        ("a_Packages.xz", lzma.compress(raw)),
        ("a_Packages", raw),
    ):
        chunks = list(iter_decompressed(name, packed))
        assert b"".join(chunks) == raw
        assert max(len(chunk) for chunk in chunks) <= 1024 * 1024
        if name != "a_Packages":
            with pytest.raises(DecompressError, match="truncated"):
                list(iter_decompressed(name, packed[: len(packed) // 2]))


def test_parse_inrelease_fixture() -> None:
    release = parse_release(SECURITY_RELEASE.read_text())
    assert release.date is not None
    assert release.date.isoformat() == "2026-11-24T00:34:33+00:00"
    assert (release.suite, release.codename, release.label) == (
        "oldstable-security",
        "bookworm-security",
        "Debian-Security",
    )
    assert not release.not_automatic


def test_release_matching_and_list_names() -> None:
    prefixes = [SECURITY_PREFIX, "deb.debian.org_debian_dists_bookworm"]
    name = f"{SECURITY_PREFIX}_main_binary-amd64_Packages"
    assert release_for(name, prefixes) == SECURITY_PREFIX
    assert (
        release_for("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", prefixes)
        == "deb.debian.org_debian_dists_bookworm"
    )
    assert release_for("other_Packages", prefixes) is None
    assert list_base_name(name + ".lz4") == name
    assert list_base_name(name + ".zst") == name
    assert list_base_name(f"{SECURITY_PREFIX}_InRelease") is None


def _installed(name: str, version: str, arch: str = "amd64", held: bool = False) -> Installed:
    return Installed(name, arch, version, held)


def test_compute_updates_candidate_and_security() -> None:
    security_entries, _ = parse_packages_index(SECURITY_LIST.read_bytes(), "amd64")
    lists = [
        IndexedList("sec_Packages", security=True, priority=500, entries=security_entries),
    ]
    installed = [
        _installed("libssl3", "3.0.20-1~deb12u2"),  # security has newer
        _installed("sudo", "1.9.13p3-1+deb12u4"),  # security has older: nothing
        _installed("tzdata", "2026b-0+deb12u1", arch="all", held=True),
        _installed("rsyslog", "8.2302.0-1+deb12u2"),  # same version: nothing
        _installed("apt", "2.6.1", arch="i386"),  # another architecture: nothing
        _installed("dpkg", "1.21.22"),
    ]
    updates = compute_updates(installed, lists, "amd64")
    assert [(u.name, u.candidate_version, u.security, u.held) for u in updates] == [
        ("libssl3", "3.0.22-1~deb12u2", True, False),
        ("tzdata", "2026f-0+deb12u1", True, True),
    ]
    assert updates[1].architecture == "all"
    lists[0].priority = 1  # e.g. experimental: NotAutomatic
    assert compute_updates(installed, lists, "amd64") == []


def _offer(name: str, version: str, arch: str = "all") -> IndexEntry:
    return IndexEntry(name, version, arch)


def test_backports_do_not_replace_what_the_release_still_offers() -> None:
    # What `apt-cache policy tzdata` shows on bookworm with backports enabled: the
    # release's 2026b (500) is the candidate, backports' newer 2026c (100) is not.
    main = IndexedList("main_Packages", False, 500, [_offer("tzdata", "2026b-0+deb12u1")])
    backports = IndexedList(
        "bookworm-backports_Packages", False, 100, [_offer("tzdata", "2026c-1~bpo12+1")]
    )
    installed = [_installed("tzdata", "2026b-0+deb12u1", arch="all")]
    assert compute_updates(installed, [main, backports], "amd64") == []
    # Installed from backports (no longer in the release lists at that version): apt
    # follows backports (ButAutomaticUpgrades, 100 like the installed version).
    from_backports = [_installed("tzdata", "2026b-1~bpo12+1", arch="all")]
    [update] = compute_updates(from_backports, [main, backports], "amd64")
    assert update.candidate_version == "2026c-1~bpo12+1"
    assert update.origin == "bookworm-backports_Packages"
    # A newer version in the release still wins over backports.
    main.entries.append(_offer("tzdata", "2026e-0+deb12u1"))
    [update] = compute_updates(installed, [main, backports], "amd64")
    assert update.candidate_version == "2026e-0+deb12u1"


def test_list_priorities_follow_the_release_file() -> None:
    def release(not_automatic: bool, upgrades: bool) -> ReleaseInfo:
        return ReleaseInfo(None, None, None, None, not_automatic, upgrades)

    assert list_priority(None) == 500
    assert list_priority(release(False, False)) == 500
    assert list_priority(release(True, True)) == 100  # backports
    assert list_priority(release(True, False)) == 1  # experimental


def test_status_holds_and_states() -> None:
    text = (
        "Package: a\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 1\n\n"
        "Package: b\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n"
        "Package: c\nStatus: install ok installed\nArchitecture: all\nVersion: 2\n"
    )
    assert installed_from_status(parse_deb822(text)) == [
        Installed("a", "amd64", "1", True),
        Installed("c", "all", "2", False),
    ]


# --- logs -----------------------------------------------------------------------------


def test_dpkg_log_fixture() -> None:
    times = parse_dpkg_log((FIXTURES / "dpkg.log").read_text())
    # rpm and the others finished configuring at 06:03:28; the 06:03:31 line after them
    # is a man-db trigger run, not an install
    assert times.last_change == datetime(2026, 11, 26, 6, 3, 28)
    # the only upgrade of that run: openssh-client, configured at 06:03:27
    assert times.last_upgrade == datetime(2026, 11, 26, 6, 3, 27)


def test_dpkg_log_unfinished_upgrade_does_not_count() -> None:
    # The same real log with the success lines of the last run removed: an upgrade that
    # was unpacked but never configured is not a successful patch.
    lines = (FIXTURES / "dpkg.log").read_text().splitlines()
    cut = [line for line in lines if not line.startswith("2026-11-26")] + [
        line for line in lines if line.startswith("2026-11-26") and " status installed " not in line
    ]
    times = parse_dpkg_log("\n".join(cut))
    assert times.last_change == times.last_upgrade == datetime(2025, 6, 24, 14, 36, 25)


def test_apt_history_fixture() -> None:
    text = (FIXTURES / "apt-history.log").read_text()
    times = parse_apt_history(text)
    assert times.last_change == datetime(2026, 11, 26, 6, 3, 31)
    assert times.last_upgrade == datetime(2026, 11, 26, 6, 3, 31)
    without_last = text[: text.index("Start-Date: 2026-11-26")]
    earlier = parse_apt_history(without_last)
    assert earlier.last_change == datetime(2026, 10, 16, 23, 4, 1)
    assert earlier.last_upgrade == datetime(2026, 9, 22, 4, 45, 29)
    failed = without_last.replace(
        "End-Date: 2026-10-16", "Error: Sub-process returned 1\nEnd-Date: 2026-10-16"
    )
    assert parse_apt_history(failed).last_change == datetime(2026, 9, 22, 4, 45, 29)


def test_rotated_log_order() -> None:
    names = ["dpkg.log.2.gz", "dpkg.log", "dpkg.log.10.gz", "dpkg.log.1", "alternatives.log"]
    assert rotated_logs(names, "dpkg.log") == [
        "dpkg.log",
        "dpkg.log.1",
        "dpkg.log.2.gz",
        "dpkg.log.10.gz",
    ]


def test_kernel_outdated_states() -> None:
    kernels = ["6.1.0-21-amd64", "6.1.0-40-amd64"]
    assert kernel_outdated("6.1.0-21-amd64", kernels) is True
    assert kernel_outdated("6.1.0-40-amd64", kernels) is False
    assert kernel_outdated("6.18.44-fc-v669", kernels) is None  # not installed here
    assert kernel_outdated(None, kernels) is None
    assert kernel_outdated("6.1.0-40-amd64", []) is None


# --- this machine ---------------------------------------------------------------------


def _apt_upgradable() -> dict[str, tuple[str, bool]]:
    out = subprocess.run(
        ["apt", "list", "--upgradable"], capture_output=True, text=True, check=True
    ).stdout
    result = {}
    for line in out.splitlines():
        if "[upgradable from:" not in line:
            continue
        name, rest = line.split("/", 1)
        suites, version = rest.split()[0], rest.split()[1]
        result[name] = (version, "security" in suites)
    return result


def test_local_pending_updates_match_apt() -> None:
    record = collect("patch.updates", LocalHost())
    facts = record.facts
    assert facts["manager"] == "dpkg"
    assert facts["method"] == "apt-lists"
    expected = _apt_upgradable()
    assert facts["pending_count"] == len(expected)
    mine = {u["name"]: (u["candidate_version"], u["security"]) for u in facts["pending"]}
    # apt's candidate and whether it comes from a security suite: identical per package
    # (no pin on this machine touches a package from the cached lists).
    assert mine == expected
    assert facts["security_count"] == sum(sec for _, sec in expected.values())
    lists = sorted(p.name for p in APT_LISTS.iterdir() if list_base_name(p.name))
    assert len(facts["indexes"]) == len(lists)
    sources = file_sources(record)
    for name in lists:
        assert f"{APT_LISTS}/{name}" in sources
    assert record.errors == []


def test_local_metadata_date_is_newest_release_date() -> None:
    dates = []
    for path in APT_LISTS.glob("*Release"):
        release = parse_release(path.read_text(errors="replace"))
        if release.date is not None:
            dates.append(release.date)
    facts = collect("patch.updates", LocalHost()).facts
    assert facts["metadata_date"] == max(dates).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _dpkg_log_successes(path: Path) -> list[str]:
    """Times of the first `status installed` line after each install or upgrade line
    of that package+version (an independent reading of the log). Later `status
    installed` lines for the same version come from trigger processing, not patching;
    counting them made this reading one second later than the install on a slow run."""
    awaiting: set[tuple[str, str]] = set()
    done: list[str] = []
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) == 6 and words[2] in ("install", "upgrade"):
            awaiting.add((words[3], words[5]))
        elif (
            len(words) == 6
            and words[2:4] == ["status", "installed"]
            and (words[4], words[5]) in awaiting
        ):
            awaiting.discard((words[4], words[5]))
            done.append(line[:19])
    return done


def test_local_last_patch_time_from_logs() -> None:
    facts = collect("patch.updates", LocalHost()).facts
    assert Path("/etc/localtime").resolve().name == "UTC"  # log times are then UTC
    # ground truth: the last `status installed` of a package+version that was installed
    # or upgraded, and the last apt End-Date of an entry that installed or upgraded
    history = Path("/var/log/apt/history.log").read_text().split("\n\n")
    ends = [
        line.split(": ", 1)[1].replace("  ", " ")
        for entry in history
        if "\nInstall: " in entry or "\nUpgrade: " in entry
        for line in entry.splitlines()
        if line.startswith("End-Date: ")
    ]
    done = _dpkg_log_successes(Path("/var/log/dpkg.log"))
    latest = max(done[-1], ends[-1])
    assert facts["last_patch_time"] == latest.replace(" ", "T") + ".000000Z"


def test_local_kernel() -> None:
    facts = collect("patch.updates", LocalHost()).facts
    assert facts["running_kernel"] == Path("/proc/sys/kernel/osrelease").read_text().strip()
    boot = sorted(p.name[8:] for p in Path("/boot").glob("vmlinuz-*"))
    assert set(boot) <= set(facts["installed_kernels"])
    if facts["running_kernel"] not in facts["installed_kernels"]:
        assert facts["kernel_outdated"] is None  # a container runs its host's kernel


# --- a planted Debian tree --------------------------------------------------------------


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_tree(debian_tree(), tmp_path_factory.mktemp("updates") / "root")
    lists = root / "var/lib/apt/lists"
    # the real security list (a slice) and its real InRelease, stored lz4-compressed as
    # Debian's container images keep them
    shutil.copy(
        FIXTURES / "bookworm-security_main_binary-amd64_Packages.lz4",
        lists / f"{SECURITY_PREFIX}_main_binary-amd64_Packages.lz4",
    )
    shutil.copy(SECURITY_RELEASE, lists / f"{SECURITY_PREFIX}_InRelease")
    # cron downgraded to bullseye's version: bookworm main in the tree has 3.0pl1-162
    status = root / "var/lib/dpkg/status"
    text = status.read_text()
    stanza_start = text.index("Package: cron\n")
    stanza_end = text.index("\n\n", stanza_start)
    stanza = text[stanza_start:stanza_end]
    assert "Version: 3.0pl1-162\n" in stanza
    status.write_text(
        text[:stanza_start]
        + stanza.replace("Version: 3.0pl1-162\n", "Version: 3.0pl1-137\n")
        + text[stanza_end:]
    )
    (root / "run/reboot-required").write_text("*** System restart required ***\n")
    (root / "run/reboot-required.pkgs").write_text("libssl3\nlinux-image-6.1.0-40-amd64\n")
    for release in ("6.1.0-9-amd64", "6.1.0-40-amd64", "6.1.0-21-amd64"):
        (root / "boot" / f"vmlinuz-{release}").write_bytes(b"")
    return root


def test_planted_tree_reports_pending_updates(planted_root: Path) -> None:
    record = collect("patch.updates", RootHost(planted_root))
    facts = record.facts
    assert record.errors == []
    pending = {u["name"]: u for u in facts["pending"]}
    assert pending["cron"] == {
        "name": "cron",
        "architecture": "amd64",
        "installed_version": "3.0pl1-137",
        "candidate_version": "3.0pl1-162",
        "security": False,
        "held": False,
        "origin": "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
    }
    # the tree was bootstrapped from bookworm main; the security slice is newer for these
    for name in ("apt", "libssl3", "rsyslog", "tzdata"):
        assert pending[name]["security"] is True, name
        assert pending[name]["origin"] == f"{SECURITY_PREFIX}_main_binary-amd64_Packages"
    for name in ("sudo", "openssh-server", "libgcrypt20"):  # security has older/equal
        assert name not in pending
    assert facts["pending_count"] == len(pending) == 5
    assert facts["security_count"] == 4
    assert facts["metadata_date"] == "2026-11-24T00:34:33.000000Z"
    security_index = next(i for i in facts["indexes"] if i["security"])
    assert security_index["packages"] == 7
    assert security_index["suite"] == "oldstable-security"
    assert facts["reboot_required"] is True
    assert facts["reboot_required_packages"] == ["libssl3", "linux-image-6.1.0-40-amd64"]
    assert "/var/run/reboot-required" in file_sources(record)
    assert facts["running_kernel"] is None  # a tree is not running
    assert facts["installed_kernels"] == ["6.1.0-9-amd64", "6.1.0-21-amd64", "6.1.0-40-amd64"]
    assert facts["newest_kernel"] == "6.1.0-40-amd64"
    assert facts["kernel_outdated"] is None
    assert facts["pin_files"] == []
    # the bootstrap's own dpkg.log: the last install debootstrap finished
    done = _dpkg_log_successes(planted_root / "var/log/dpkg.log")
    assert facts["last_patch_time"] == done[-1].replace(" ", "T") + ".000000Z"
    # debootstrap "upgrades" packages to the version they already have: reinstalls
    assert facts["last_upgrade_time"] is None


def test_tree_without_lists_is_unknown_not_none(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy(debian_tree() / "var/lib/dpkg/status", root / "var/lib/dpkg/status")
    record = collect("patch.updates", RootHost(root))
    assert record.facts["pending"] is None
    assert record.facts["pending_count"] is None
    assert record.facts["reboot_required"] is False
    assert record.errors == ["/var/lib/apt/lists: not found; apt has no cached package lists"]


def test_rpm_tree_cannot_run_dnf(tmp_path: Path) -> None:
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/dnf").write_text("")
    record = collect("patch.updates", RootHost(tmp_path))
    facts = record.facts
    assert facts["manager"] == "rpm"
    assert facts["pending"] is None and facts["pending_count"] is None
    assert facts["reboot_required"] is None
    assert any("dnf -q --cacheonly check-update" in e for e in record.errors)
    assert any("not supported on a RootHost" in e for e in record.errors)


def test_no_package_database(tmp_path: Path) -> None:
    record = collect("patch.updates", RootHost(tmp_path))
    assert record.facts["manager"] is None
    assert record.errors[0].startswith("no package database found")


# --- rpm / dnf parsers -------------------------------------------------------------------


def test_split_nevra() -> None:
    assert split_nevra("openssl-libs-1:3.0.7-27.el9.x86_64") == ("openssl-libs", "x86_64")
    assert split_nevra("kernel-5.14.0-427.13.1.el9_4.x86_64") == ("kernel", "x86_64")
    assert split_nevra("nodots") is None


def test_rpm_rows_and_needs_restarting_parsers() -> None:
    rows = parse_rpm_rows("kernel-core\t5.14.0-1.el9.x86_64\t1714564800\nbad line\n")
    assert [(r.name, r.release, r.installtime) for r in rows] == [
        ("kernel-core", "5.14.0-1.el9.x86_64", 1714564800)
    ]
    assert repomd_timestamp("<a><timestamp>5</timestamp><timestamp>9</timestamp></a>") is not None
    assert repomd_timestamp("<repomd/>") is None
    assert parse_needs_restarting("Core libraries:\n  * kernel\n  * glibc\n") == [
        "glibc",
        "kernel",
    ]


# --- property tests -------------------------------------------------------------------

_LOG_LINES = st.lists(
    st.sampled_from(
        [
            "2026-11-26 06:03:26 upgrade a:amd64 1 2",
            "2026-11-26 06:03:27 install b:all <none> 3",
            "2026-11-26 06:03:28 status installed a:amd64 2",
            "2026-11-26 06:03:29 status installed b:all 3",
            "Start-Date: 2026-11-26  06:03:26",
            "Upgrade: a:amd64 (1, 2)",
            "End-Date: 2026-11-26  06:03:31",
            "Error: x",
            "",
        ]
    )
    | st.text(max_size=30),
    max_size=20,
).map("\n".join)


@given(st.one_of(st.text(), _LOG_LINES))
def test_text_parsers_never_raise_and_are_stable(text: str) -> None:
    for parser in (parse_dpkg_log, parse_apt_history):
        assert parser(text) == parser(text)
    assert parse_dnf_check_update(text) == parse_dnf_check_update(text)
    assert parse_updateinfo_security(text) == parse_updateinfo_security(text)
    release = parse_release(text)
    assert release == parse_release(text)
    entries, count = parse_packages_index(text.encode(), "amd64")
    assert count >= len(entries)
    canonical_json([e.__dict__ for e in entries])


# --- rpm / dnf on real tool output ------------------------------------------------------
# The outputs below were captured from dnf 4.14, rpm 4.18 and dnf-plugins-core's
# needs-restarting against a local repository (see tests/fixtures/README.md).

DNF_CHECK_UPDATE = (FIXTURES / "dnf-check-update.out").read_text()
DNF_SECURITY = (FIXTURES / "dnf-updateinfo-security.out").read_text()
RPM_QA = (FIXTURES / "rpm-qa.out").read_text()


def test_parse_real_dnf_check_update() -> None:
    updates = parse_dnf_check_update(DNF_CHECK_UPDATE)
    assert [(u.name, u.architecture, u.version, u.repo) for u in updates] == [
        ("openssl-libs", "noarch", "1:3.0.7-27.el9", "baseos"),
        (
            "python3-a-package-with-a-rather-long-name-to-make-dnf-wrap-its-columns",
            "noarch",
            "1.0-2.el9",
            "baseos",
        ),
        ("tzdata", "noarch", "2024b-2.el9", "baseos"),
    ]


def test_dnf_wrapped_columns_and_obsoletes() -> None:
    # dnf wraps a long NAME.ARCH onto its own line on narrow terminals; the
    # "Obsoleting Packages" section lists replacements, not updates.
    text = (
        "\nvery-long-package-name-that-wraps.x86_64\n"
        "                                   1.2-3.el9          appstream\n"
        "bash.x86_64     5.1.8-9.el9     baseos\n"
        "Obsoleting Packages\n"
        "grub2-tools.x86_64   1:2.06-80.el9   baseos\n"
    )
    assert [(u.name, u.version) for u in parse_dnf_check_update(text)] == [
        ("very-long-package-name-that-wraps", "1.2-3.el9"),
        ("bash", "5.1.8-9.el9"),
    ]


def test_parse_real_updateinfo_security() -> None:
    assert parse_updateinfo_security(DNF_SECURITY) == {("openssl-libs", "noarch")}


def test_parse_real_rpm_rows_and_repomd() -> None:
    rows = parse_rpm_rows(RPM_QA)
    assert len(rows) == len(RPM_QA.splitlines()) == 7
    kernels = [r.release for r in rows if r.name == "kernel-core"]
    assert kernels == ["5.14.0-362.8.1.el9_3.x86_64", "5.14.0-427.13.1.el9_4.x86_64"]
    stamp = repomd_timestamp((FIXTURES / "dnf-repomd.xml").read_text())
    assert stamp is not None and int(stamp.timestamp()) == 1795673663


def test_parse_real_needs_restarting() -> None:
    assert parse_needs_restarting((FIXTURES / "needs-restarting-required.out").read_text()) == [
        "glibc",
        "kernel",
    ]
    assert parse_needs_restarting((FIXTURES / "needs-restarting.out").read_text()) == []


class ReplayHost:
    """A RHEL-shaped tree whose commands answer with recorded real output (a live host
    as far as the collector can tell: not a RootHost, no psutil)."""

    def __init__(self, root: Path, answers: dict[tuple[str, ...], tuple[int, bytes]]) -> None:
        self.tree = RootHost(root)
        self.answers = answers

    @property
    def name(self) -> str:
        return "replay"

    def read_file(self, path: str, max_bytes: int = 32 * 1024 * 1024) -> bytes:
        return self.tree.read_file(path, max_bytes)

    def list_dir(self, path: str) -> list[str]:
        return self.tree.list_dir(path)

    def stat(self, path: str) -> FileStat | None:
        return self.tree.stat(path)

    def exists(self, path: str) -> bool:
        return self.tree.exists(path)

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        exit_code, stdout = self.answers.get(tuple(argv), (127, b""))
        error = None if tuple(argv) in self.answers else "not found"
        return CommandResult(tuple(argv), None if error else exit_code, stdout, b"", 5, error)

    def psutil(self) -> None:
        return None


def _rhel_tree(root: Path, running: str) -> Path:
    for directory in (
        "var/lib/rpm",
        "usr/bin",
        "proc/sys/kernel",
        "var/cache/dnf/baseos-1/repodata",
    ):
        (root / directory).mkdir(parents=True)
    (root / "usr/bin/dnf").write_bytes(b"")
    (root / "usr/bin/needs-restarting").write_bytes(b"")
    (root / "proc/sys/kernel/osrelease").write_text(running + "\n")
    shutil.copy(FIXTURES / "dnf-repomd.xml", root / "var/cache/dnf/baseos-1/repodata/repomd.xml")
    return root


def _answers(reboot: str) -> dict[tuple[str, ...], tuple[int, bytes]]:
    return {
        ("/usr/bin/dnf", "-q", "--cacheonly", "check-update"): (100, DNF_CHECK_UPDATE.encode()),
        ("/usr/bin/dnf", "-q", "--cacheonly", "updateinfo", "list", "--security"): (
            0,
            DNF_SECURITY.encode(),
        ),
        ("rpm", "-qa", "--queryformat", RPM_QUERYFORMAT): (0, RPM_QA.encode()),
        ("/usr/bin/needs-restarting", "-r"): (
            1 if reboot == "required" else 0,
            (
                FIXTURES / f"needs-restarting{'-required' if reboot == 'required' else ''}.out"
            ).read_bytes(),
        ),
    }


def test_rhel_host_with_recorded_dnf_output(tmp_path: Path) -> None:
    root = _rhel_tree(tmp_path / "root", running="5.14.0-362.8.1.el9_3.x86_64")
    record = collect("patch.updates", ReplayHost(root, _answers("required")))
    facts = record.facts
    # exit 100 ("updates available") and needs-restarting's exit 1 are answers
    assert record.errors == []
    assert (facts["manager"], facts["method"]) == ("rpm", "dnf-cache")
    assert facts["pending_count"] == 3
    assert facts["security_count"] == 1
    openssl = next(u for u in facts["pending"] if u["name"] == "openssl-libs")
    assert openssl == {
        "name": "openssl-libs",
        "architecture": "noarch",
        "installed_version": None,
        "candidate_version": "1:3.0.7-27.el9",
        "security": True,
        "held": False,
        "origin": "baseos",
    }
    assert facts["reboot_required"] is True
    assert facts["reboot_required_packages"] == ["glibc", "kernel"]
    assert facts["installed_kernels"] == [
        "5.14.0-362.8.1.el9_3.x86_64",
        "5.14.0-427.13.1.el9_4.x86_64",
    ]
    assert facts["running_kernel"] == "5.14.0-362.8.1.el9_3.x86_64"
    assert facts["kernel_outdated"] is True
    assert facts["last_patch_time"] == "2026-11-26T06:14:50.000000Z"  # 1795673690
    assert facts["metadata_date"] == "2026-11-26T06:14:23.000000Z"  # 1795673663


def test_rhel_host_up_to_date_kernel_and_no_reboot(tmp_path: Path) -> None:
    root = _rhel_tree(tmp_path / "root", running="5.14.0-427.13.1.el9_4.x86_64")
    record = collect("patch.updates", ReplayHost(root, _answers("not needed")))
    assert record.errors == []
    assert record.facts["kernel_outdated"] is False
    assert record.facts["reboot_required"] is False
    assert record.facts["reboot_required_packages"] == []
