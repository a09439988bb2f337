"""configuration.network: sysctl values against the kernel and systemd's own file order,
firewall parsers on real nft/iptables output, a planted Debian tree."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.configuration.network import (
    SYSCTL_KEYS,
    FirewallChain,
    effective_policies,
    make_ruleset,
    normalize_sysctl_key,
    parse_iptables_save,
    parse_nft,
    parse_sysctl_conf,
    ruleset_hash,
)
from collectors.host import CommandResult, LocalHost, RootHost
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

SYSTEM = FIXTURES / "system"


def chains(*specs: tuple[str, str, str, str, str]) -> list[FirewallChain]:
    return [FirewallChain(family=f, table=t, chain=c, hook=h, policy=p) for f, t, c, h, p in specs]


# --- sysctl -------------------------------------------------------------------------


def test_runtime_sysctl_equals_kernel_here() -> None:
    record = collect("configuration.network", LocalHost())
    values = record.facts["sysctl"]
    assert list(values) == list(SYSCTL_KEYS)
    for key in SYSCTL_KEYS:
        path = Path("/proc/sys") / key.replace(".", "/")
        expected = int(path.read_text()) if path.exists() else None
        assert values[key] == expected, key
    assert values["kernel.randomize_va_space"] is not None  # present on every kernel


def systemd_sysctl_order(root: str | None = None) -> list[str]:
    """The sysctl.d files systemd-sysctl applies, in order, as systemd itself lists them."""
    argv = ["systemd-analyze", "cat-config", "sysctl.d"]
    if root is not None:
        argv.insert(2, f"--root={root}")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    paths = re.findall(r"^# (/\S+)$", out, flags=re.MULTILINE)
    return [p.removeprefix(root) if root else p for p in paths]


def test_sysctl_file_order_equals_systemd_here() -> None:
    facts = collect("configuration.network", LocalHost()).facts
    expected = systemd_sysctl_order()
    assert expected  # Debian ships at least /usr/lib/sysctl.d/50-pid-max.conf
    # `sysctl --system` (procps) applies /etc/sysctl.conf after the sysctl.d files.
    tail = ["/etc/sysctl.conf"] if Path("/etc/sysctl.conf").exists() else []
    assert facts["sysctl_files"] == expected + tail


def test_planted_sysctl_precedence_in_debian_tree(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    etc_d = root / "etc/sysctl.d"
    # A same-named file in /etc masks the packaged one in /usr/lib entirely.
    (etc_d / "99-protect-links.conf").write_text("fs.protected_symlinks = 0\n")
    (etc_d / "60-hardening.conf").write_text(
        "# planted\nnet.ipv4.ip_forward = 1\n-kernel.kptr_restrict = 1\n"
        "net/ipv4/conf/enp3s0.200/forwarding = 0\n"
    )
    run_d = root / "run/sysctl.d"
    run_d.mkdir(parents=True)
    (run_d / "70-runtime.conf").write_text("net.ipv4.ip_forward=0\n")
    with (root / "etc/sysctl.conf").open("a") as handle:
        handle.write("kernel.kptr_restrict=2\n")
    record = collect("configuration.network", RootHost(root))
    facts = record.facts
    assert facts["sysctl_files"] == [
        *systemd_sysctl_order(str(root)),
        "/etc/sysctl.conf",
    ]
    assert facts["sysctl_files"] == [
        "/etc/sysctl.d/60-hardening.conf",
        "/run/sysctl.d/70-runtime.conf",
        "/etc/sysctl.d/99-protect-links.conf",
        "/etc/sysctl.conf",
    ]
    assert facts["sysctl_configured"] == [
        {
            "key": "fs.protected_symlinks",
            "value": "0",
            "file": "/etc/sysctl.d/99-protect-links.conf",
        },
        {"key": "kernel.kptr_restrict", "value": "2", "file": "/etc/sysctl.conf"},
        {
            "key": "net.ipv4.conf.enp3s0/200.forwarding",
            "value": "0",
            "file": "/etc/sysctl.d/60-hardening.conf",
        },
        {"key": "net.ipv4.ip_forward", "value": "0", "file": "/run/sysctl.d/70-runtime.conf"},
    ]
    # A root tree has no running kernel: every runtime value is unknown, and says so.
    assert set(facts["sysctl"].values()) == {None}
    assert "/proc/sys not available: runtime kernel settings not observed" in record.errors
    sources = file_sources(record)
    assert sources["/etc/sysctl.conf"].sha256 == sha256_file(root / "etc/sysctl.conf")


def test_parse_real_sysctl_files() -> None:
    # Debian's procps /etc/sysctl.conf is all comments; systemd's and procps' drop-ins.
    tree = debian_tree()
    assert parse_sysctl_conf((tree / "etc/sysctl.conf").read_text()) == []
    assert parse_sysctl_conf((tree / "usr/lib/sysctl.d/99-protect-links.conf").read_text()) == [
        ("fs.protected_fifos", "1"),
        ("fs.protected_hardlinks", "1"),
        ("fs.protected_regular", "2"),
        ("fs.protected_symlinks", "1"),
    ]


def test_normalize_sysctl_key_as_sysctl_d_man_page() -> None:
    # sysctl.d(5): both spellings name /proc/sys/net/ipv4/conf/enp3s0.200/forwarding.
    dotted = "net.ipv4.conf.enp3s0/200.forwarding"
    assert normalize_sysctl_key("net/ipv4/conf/enp3s0.200/forwarding") == dotted
    assert normalize_sysctl_key(dotted) == dotted
    assert normalize_sysctl_key("kernel/domainname") == "kernel.domainname"
    assert normalize_sysctl_key("kernel") == "kernel"
    assert parse_sysctl_conf("; c\n-net.ipv4.conf.all.rp_filter = 2\nnoequals\n= 1\na b = 1\n") == [
        ("net.ipv4.conf.all.rp_filter", "2")
    ]


# --- firewall parsers on real output ------------------------------------------------


def test_nft_examples_ruleset() -> None:
    parsed = parse_nft((SYSTEM / "nft-ruleset-examples.txt").read_text())
    assert parsed.tables == [
        "inet filter",
        "inet nat",
        "netdev filter",
        "ip filter",
        "ip mangle",
        "ip nat",
        "ip raw",
        "ip6 filter",
        "ip6 mangle",
        "ip6 nat",
        "ip6 raw",
        "arp filter",
        "bridge filter",
    ]
    assert parsed.rule_count == 6  # the inet input chain; the named set is not a rule
    filters = [(c.family, c.table, c.hook, c.policy) for c in parsed.chains if c.table == "filter"]
    assert filters == [
        ("inet", "filter", "input", "drop"),
        ("inet", "filter", "forward", "accept"),
        ("inet", "filter", "output", "accept"),
        ("ip", "filter", "input", "accept"),
        ("ip", "filter", "forward", "accept"),
        ("ip", "filter", "output", "accept"),
        ("ip6", "filter", "input", "accept"),
        ("ip6", "filter", "forward", "accept"),
        ("ip6", "filter", "output", "accept"),
    ]  # arp and bridge filter chains are not IP filters; nat chains are not filters
    policies = effective_policies([make_ruleset("nft", "nft", "", "ip")])  # nothing loaded
    assert policies["ipv4"] == {"input": "accept", "forward": "accept", "output": "accept"}
    ruleset = make_ruleset("nft", "nft", (SYSTEM / "nft-ruleset-examples.txt").read_text(), "ip")
    assert effective_policies([ruleset]) == {
        "ipv4": {"input": "drop", "forward": "accept", "output": "accept"},
        "ipv6": {"input": "drop", "forward": "accept", "output": "accept"},
    }


def test_nft_scripts_debian_default_and_workstation() -> None:
    default = parse_nft((SYSTEM / "nftables.conf").read_text())
    assert (default.tables, default.rule_count) == (["inet filter"], 0)
    assert default.chains == chains(
        ("inet", "filter", "input", "input", "accept"),
        ("inet", "filter", "forward", "forward", "accept"),
        ("inet", "filter", "output", "output", "accept"),
    )  # no policy statement: nftables accepts
    workstation = parse_nft((SYSTEM / "workstation.nft").read_text())
    assert workstation.rule_count == 5  # comments and the commented-out rule do not count
    # Policy accept, but the last rule ("counter drop") drops whatever is left.
    [input_chain] = workstation.chains
    assert (input_chain.policy, input_chain.final_rule) == ("accept", "drop")
    ruleset = make_ruleset("nft", "nft", (SYSTEM / "workstation.nft").read_text(), "ip")
    policies = effective_policies([ruleset])
    assert policies["ipv4"]["input"] == policies["ipv6"]["input"] == "drop"
    assert policies["ipv4"]["output"] == "accept"


# RHEL's stock /etc/sysconfig/iptables (iptables-services): accepting policies, and a
# final REJECT in INPUT and FORWARD that denies everything not accepted above it.
RHEL_SYSCONFIG_IPTABLES = """\
# sample configuration for iptables service
# you can edit this manually or use system-config-firewall
# please do not ask us to add additional ports/services to this default configuration
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
"""


def test_a_final_reject_denies_by_default_and_a_conditional_one_does_not() -> None:
    parsed = parse_iptables_save(RHEL_SYSCONFIG_IPTABLES, "ip")
    finals = {c.chain: c.final_rule for c in parsed.chains}
    assert finals == {"INPUT": "reject", "FORWARD": "reject", "OUTPUT": None}
    conditional = RHEL_SYSCONFIG_IPTABLES.replace("-A INPUT -j REJECT", "-A INPUT -p tcp -j REJECT")
    assert {c.chain: c.final_rule for c in parse_iptables_save(conditional, "ip").chains}[
        "INPUT"
    ] is None
    nft = "table inet t {\n chain c {\n  type filter hook input priority 0;\n"
    assert parse_nft(nft + "  tcp dport 22 drop\n }\n}\n").chains[0].final_rule is None
    assert (
        parse_nft(nft + "  reject with icmpx admin-prohibited\n }\n}\n").chains[0].final_rule
        == "reject"
    )


def test_iptables_nft_seen_both_ways_agrees() -> None:
    # The same kernel rules through iptables-save/ip6tables-save and through nft.
    v4 = make_ruleset(
        "iptables-save", "iptables-save", (SYSTEM / "iptables-save.txt").read_text(), "ip"
    )
    v6 = make_ruleset(
        "ip6tables-save", "iptables-save", (SYSTEM / "ip6tables-save.txt").read_text(), "ip6"
    )
    nft = make_ruleset("nft", "nft", (SYSTEM / "nft-ruleset-iptables-nft.txt").read_text(), "ip")
    assert v4.tables == ["ip filter", "ip nat"] and v6.tables == ["ip6 filter"]
    assert sorted(nft.tables) == sorted(v4.tables + v6.tables)
    assert v4.rule_count + v6.rule_count == nft.rule_count == 5
    assert effective_policies([v4, v6]) == effective_policies([nft])
    assert effective_policies([nft]) == {
        "ipv4": {"input": "drop", "forward": "drop", "output": "accept"},
        "ipv6": {"input": "drop", "forward": "accept", "output": "accept"},
    }
    assert v4.chains == chains(
        ("ip", "filter", "INPUT", "input", "drop"),
        ("ip", "filter", "FORWARD", "forward", "drop"),
        ("ip", "filter", "OUTPUT", "output", "accept"),
    )


def test_ruleset_hash_ignores_counters_and_comments_only() -> None:
    text = (SYSTEM / "iptables-save.txt").read_text()
    later = re.sub(r"on \w{3} \w{3} .*$", "on Fri Jan  1 00:00:00 2027", text, flags=re.M)
    later = later.replace(":INPUT DROP [0:0]", ":INPUT DROP [1234:567890]")
    assert later != text
    assert ruleset_hash(later) == ruleset_hash(text)
    assert ruleset_hash(text.replace("--dport 22", "--dport 2222")) != ruleset_hash(text)
    nft = (SYSTEM / "nft-ruleset-iptables-nft.txt").read_text()
    busy = nft.replace("counter packets 0 bytes 0 accept", "counter packets 17 bytes 2040 accept")
    assert busy != nft and ruleset_hash(busy) == ruleset_hash(nft)
    assert ruleset_hash(nft.replace("policy drop", "policy accept")) != ruleset_hash(nft)


def test_empty_ruleset() -> None:
    text = (SYSTEM / "nft-ruleset-empty.txt").read_text()
    assert text == ""  # what `nft list ruleset` prints on a host without rules
    ruleset = make_ruleset("nft list ruleset", "nft", text, "ip")
    assert (ruleset.tables, ruleset.chains, ruleset.rule_count) == ([], [], 0)


# --- collection with firewall tools -------------------------------------------------


class FirewallTreeHost(RootHost):
    """A Debian tree with nft and iptables-save planted, whose commands answer with the
    real outputs recorded in tests/fixtures/system (the tree itself cannot run them)."""

    OUTPUTS: ClassVar[dict[str, str]] = {
        "/usr/sbin/nft": "nft-ruleset-iptables-nft.txt",
        "/usr/sbin/iptables-save": "iptables-save.txt",
        "/usr/sbin/ip6tables-save": "ip6tables-save.txt",
    }

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        name = self.OUTPUTS.get(argv[0])
        if name is None:
            return super().run(argv, timeout)
        return CommandResult(tuple(argv), 0, (SYSTEM / name).read_bytes(), b"", 5)


def planted_firewall_tree(tmp_path: Path) -> Path:
    root = copy_tree(debian_tree(), tmp_path / "root")
    for tool in FirewallTreeHost.OUTPUTS:
        (root / tool.lstrip("/")).write_bytes(b"\x7fELF planted")
    (root / "etc/iptables").mkdir()
    (root / "etc/iptables/rules.v4").write_bytes((SYSTEM / "iptables-save.txt").read_bytes())
    (root / "etc/nftables.conf").write_bytes((SYSTEM / "nftables.conf").read_bytes())
    return root


def test_collect_firewall_with_tools(tmp_path: Path) -> None:
    root = planted_firewall_tree(tmp_path)
    record = collect("configuration.network", FirewallTreeHost(root))
    firewall = record.facts["firewall"]
    assert firewall["backend"] == "nftables"
    assert [r["source"] for r in firewall["rulesets"]] == [
        "nft list ruleset",
        "iptables-save",
        "ip6tables-save",
    ]
    assert firewall["policies"] == {
        "ipv4": {"input": "drop", "forward": "drop", "output": "accept"},
        "ipv6": {"input": "drop", "forward": "accept", "output": "accept"},
    }
    assert firewall["config_files"]["/etc/nftables.conf"] is True
    assert firewall["config_files"]["/etc/iptables/rules.v4"] is True
    assert firewall["config_files"]["/etc/iptables/rules.v6"] is False
    configured = {r["source"]: r for r in firewall["configured"]}
    assert configured["/etc/iptables/rules.v4"]["rule_count"] == 4
    assert configured["/etc/iptables/rules.v4"]["sha256"] == firewall["rulesets"][1]["sha256"]
    assert configured["/etc/nftables.conf"]["tables"] == ["inet filter"]
    text = json.dumps(record.to_json())
    assert "--dport 22" not in text and "MASQUERADE" not in text  # rules never leave


def test_root_tree_firewall_from_files_only(tmp_path: Path) -> None:
    root = planted_firewall_tree(tmp_path)
    record = collect("configuration.network", RootHost(root))
    firewall = record.facts["firewall"]
    assert firewall["backend"] is None and firewall["rulesets"] is None
    assert firewall["policies"] is None
    configured = {r["source"]: r for r in firewall["configured"]}
    assert [c["policy"] for c in configured["/etc/iptables/rules.v4"]["chains"]] == [
        "drop",
        "drop",
        "accept",
    ]
    assert any("nft list ruleset: commands are not supported" in e for e in record.errors)


def test_no_firewall_tools_here() -> None:
    if Path("/usr/sbin/nft").exists() or Path("/usr/sbin/iptables-save").exists():
        pytest.skip("firewall tools installed here")
    record = collect("configuration.network", LocalHost())
    assert record.facts["firewall"]["backend"] is None
    assert "neither nft nor iptables-save is installed: live firewall not observed" in (
        record.errors
    )


# --- property tests -----------------------------------------------------------------

_NFT_TEXT = st.lists(
    st.sampled_from(
        [
            "table",
            "inet",
            "filter",
            "chain",
            "input",
            "{",
            "}",
            ";",
            "\n",
            "type",
            "hook",
            "policy",
            "drop",
            "accept",
            '"',
            "#",
            "define",
            "add",
            "rule",
            "*filter",
            ":INPUT",
            "DROP",
            "-A",
            "COMMIT",
            "=",
            "-",
            "/",
            ".",
        ]
    ),
    max_size=60,
).map(" ".join)


@given(st.one_of(st.text(), _NFT_TEXT))
def test_parsers_never_raise(text: str) -> None:
    for parse in (parse_nft, lambda t: parse_iptables_save(t, "ip")):
        first = parse(text)
        assert first == parse(text)
        assert first.rule_count >= 0
    pairs = parse_sysctl_conf(text)
    assert pairs == parse_sysctl_conf(text)
    for key, value in pairs:
        assert key and "=" not in key and len(value) <= 256
    ruleset = make_ruleset("x", "nft", text, "ip")
    json.dumps(ruleset.model_dump(mode="json"))
    effective_policies([ruleset])
