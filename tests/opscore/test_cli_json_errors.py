"""A script that runs a command with `--json` reads JSON whatever happens: a refusal is the API's
own error object, `{"ok": false, "error", "errors"}`, on stdout, with exit 2."""

import json
import os
import subprocess
import sys

import pytest

from opscore.cli import main
from tests.processes import ROOT

pytestmark = pytest.mark.django_db
TOKEN = "an-operator-token-that-is-long-enough-01"


def refused(capsys, *words) -> dict:
    with pytest.raises(SystemExit) as exited:
        main(["opscore", *words, "--json"])
    assert exited.value.code == 2
    return json.loads(capsys.readouterr().out)


def test_a_refusal_has_the_shape_the_api_answers_with(client, settings, capsys):
    """The command line said `{"error", "errors"}` where the API (and `agentbus`) say
    `{"ok": false, "error", "errors"}`: a script reading `ok` took the refusal for a success."""
    settings.OPS_API_TOKEN = TOKEN
    api = client.get("/api/ops/goals/999999", headers={"Authorization": f"Bearer {TOKEN}"})

    cli = refused(capsys, "goal", "show", "999999")

    assert api.status_code == 404
    assert cli.keys() == api.json().keys()
    assert cli["ok"] is False and cli["errors"] == {"id": ["no goal 999999"]}


@pytest.mark.parametrize(
    "words",
    [
        ["proposal", "approve", "1"],  # --as left out
        ["proposal", "show", "1"],  # no such verb
        ["goal", "show", "G1"],  # not a number
        ["mission", "pause", "1", "--reason"],  # a flag without its value
    ],
    ids=" ".join,
)
def test_arguments_the_parser_refuses_are_json_with_json_and_one_line_without(capsys, words):
    """argparse printed its usage block and the error on stderr, and nothing on stdout, even
    with --json: a script parsing the output failed on an empty string."""
    said = refused(capsys, *words)

    assert said["ok"] is False and said["error"].startswith("bad arguments: ")
    with pytest.raises(SystemExit) as exited:
        main(["opscore", *words])
    lines = capsys.readouterr().err.splitlines()
    assert exited.value.code == 2
    assert len(lines) == 1 and "--help" in lines[0], lines


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["thread", "show", "mission", "1", "--as", "a" * 200], "--as: 1 to 141 characters"),
        (["backup", "--dir", ""], "--dir: an empty path"),
    ],
)
def test_a_refusal_raised_as_a_command_error_is_json_with_json(capsys, words, said):
    """A check that raises CommandError itself (a name too long, an empty path) printed
    `CommandError: …` on stderr and nothing on stdout, even with --json."""
    answer = refused(capsys, *words)

    assert answer["ok"] is False and answer["error"].startswith(said)


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["nosuchverb"], "unknown command 'nosuchverb'"),
        ([], "--json and no command to run"),
        (["propose", "--title", "caf\udce9"], "argument 3 is not valid UTF-8"),
    ],
)
def test_a_command_line_refused_before_any_command_runs_is_json_with_json(capsys, words, said):
    """A mistyped command, or an argument that is not UTF-8, was refused on stderr alone."""
    answer = refused(capsys, *words)

    assert answer["ok"] is False and said in answer["error"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"DATABASE_URL": "postgres://u:p@127.0.0.1:1/none"}, "the database refused it"),
        ({"OPS_MAX_INPUT_BYTES": "many"}, "the configuration is wrong"),
    ],
)
def test_a_database_or_configuration_failure_is_json_with_json(env, said):
    """`opscore goal list --json` with the database down printed its line on stderr and
    nothing on stdout, where the API answers `503 {"ok": false, "error", …}`."""
    done = subprocess.run(
        [sys.executable, "manage.py", "goal", "list", "--json"],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    answer = json.loads(done.stdout)
    assert answer["ok"] is False and said in answer["error"] and answer["errors"] == {}
    assert len(done.stderr.splitlines()) == 1 and said in done.stderr


def test_input_that_ends_at_a_prompt_is_one_line_not_a_traceback(capsys, monkeypatch):
    """`make run` says "reset with: .venv/bin/opscore changepassword admin"; Ctrl-D at its
    password prompt, or no terminal to ask on, ended in an EOFError traceback."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("admin", password="first-password-kept")

    def terminal_closed(prompt=""):  # what getpass does on Ctrl-D or with no terminal
        raise EOFError

    monkeypatch.setattr("getpass.getpass", terminal_closed)

    with pytest.raises(SystemExit) as exited:
        main(["opscore", "changepassword", "admin"])

    assert exited.value.code == 2
    said = capsys.readouterr().err.splitlines()
    assert said[-1] == (
        "opscore changepassword: the input ended before it answered the prompt "
        "(Ctrl-D, or no terminal to ask on); run it in a terminal"
    )
    assert "Traceback" not in "\n".join(said)
