"""The one redactor for text collectors keep: what it hides and what it leaves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.redact import REDACTED, redact

HIDDEN = "Tr0ub4dor-9x"


@pytest.mark.parametrize(
    "text",
    [
        f"/usr/bin/mysqldump --user=backup --password={HIDDEN} --all-databases",
        f"/usr/bin/mysqldump --password {HIDDEN} db",
        f"/usr/bin/mysql -uroot -p{HIDDEN} -e 'select 1'",
        f"/usr/bin/curl -u deploy\\:{HIDDEN} https://ci.example.net/hook",
        f"/usr/bin/curl --user deploy:{HIDDEN} https://ci.example.net/hook",
        f"/usr/bin/curl https://deploy:{HIDDEN}@ci.example.net/hook",
        f"curl -H 'Authorization: Bearer {HIDDEN}' https://api.example.net",
        f'action(type="omelasticsearch" uid="dossier" pwd="{HIDDEN}")',
        f"export API_TOKEN={HIDDEN}",
        f"HTTPProxyPassword: {HIDDEN}",
    ],
)
def test_secrets_in_commands_and_config_lines_are_hidden(text: str) -> None:
    shown = redact(text)
    assert HIDDEN not in shown
    assert REDACTED in shown


def test_what_identifies_the_command_stays() -> None:
    shown = redact(f"/usr/bin/mysqldump --user=backup --password={HIDDEN} --all-databases")
    assert shown == "/usr/bin/mysqldump --user=backup --password=<redacted> --all-databases"
    assert redact("/usr/bin/systemctl restart nginx") == "/usr/bin/systemctl restart nginx"
    assert redact("/usr/sbin/service apache2 reload, /bin/ls -l") == (
        "/usr/sbin/service apache2 reload, /bin/ls -l"
    )
    assert redact("@@logs.example.net:6514") == "@@logs.example.net:6514"


@given(st.text(max_size=200))
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
