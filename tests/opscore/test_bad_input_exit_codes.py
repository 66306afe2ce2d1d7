"""Bad input on the command line is refused the house way: exit 2 (`opscore.cli.REFUSED`) and
one line on stderr saying why — never exit 1, which says a command ran and failed, and never
a traceback."""

import pytest

from opscore.cli import main

pytestmark = pytest.mark.django_db

BAD = [
    ["export_vault", "--root", "/proc/nope"],
    ["propose", "--agent", "nosuch", "--title", "x", "--step", "analyze:{}"],
    ["propose", "--agent", "devops", "--title", "x", "--step", "analyze:{bad"],
    ["agent_token", "issue", "bad slug!", "--name", "vps", "--create"],
    ["agent_token", "revoke", "99999999999999999999"],
    ["converse", "--format", "nosuch", "--agents", "devops", "--topic", "t"],
    ["run_order", "nosuch"],
    ["coding", "register", "demo", "/nonexistent"],
    ["backup", "--dir", "/proc/nope"],
    ["nosuchverb"],
]


@pytest.mark.parametrize("words", BAD, ids=lambda words: " ".join(words)[:40])
def test_bad_input_exits_2_with_one_line(words, capsys, settings):
    settings.SILENCED_SYSTEM_CHECKS = ["opscore.W001", "opscore.W002", "opscore.W003"]
    with pytest.raises(SystemExit) as refused:
        main(["opscore", *words])

    said = capsys.readouterr().err.strip()
    assert refused.value.code == 2, said
    first, *fields = said.splitlines()  # a field's error may follow, indented (cli.fail)
    assert first and "Traceback" not in said, said
    assert all(line.startswith("  ") for line in fields), said
