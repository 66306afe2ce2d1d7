"""One entry point that works as pasted: `.venv/bin/opscore …` from any directory, and the
command's flags (`--json` above all) accepted after the verb as well as before it."""

import argparse
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands, load_command_class

from opscore.cli import VerbsAction
from tests.processes import ROOT, database_url

pytestmark = pytest.mark.django_db
OPSCORE = Path(sys.executable).parent / "opscore"


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def status_from(directory, *words) -> dict:
    """`.venv/bin/opscore …` as a person runs it: another directory, the test database."""
    done = subprocess.run(
        [OPSCORE, *words],
        cwd=directory,
        env=os.environ | {"DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_console_script_runs_status_from_any_directory(tmp_path):
    assert "health" in status_from(tmp_path, "status", "--json")


def test_manage_py_still_works():
    done = subprocess.run(
        [sys.executable, "manage.py", "help", "override"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "pause-lane" in done.stdout


@pytest.mark.parametrize("where", ["after", "before"])
def test_override_takes_json_after_the_verb_as_the_readme_writes_it(where):
    verb = ["pause-lane", "roundtable", "--reason", "quiet"]
    args = [*verb, "--json"] if where == "after" else ["--json", *verb]

    body = json.loads(run("override", *args))

    assert (body["kind"], body["target"]) == ("pause_lane", "roundtable")


def test_memory_search_takes_json_after_the_verb(agent):
    assert json.loads(run("memory", "search", "--agent", agent.slug, "--json")) == []


def test_a_verb_without_the_flag_keeps_the_default():
    assert run("override", "list") == "(no overrides in force)\n"


def verb_commands():
    """Every installed command with subcommands, and its parser."""
    for name, app in sorted(get_commands().items()):
        if app.startswith("django.") or app in ("daphne", "django_q", "channels", "axes"):
            continue
        parser = load_command_class(app, name).create_parser("opscore", name)
        verbs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if verbs:
            yield name, parser, verbs[0]


@pytest.mark.parametrize("name", [name for name, _, _ in verb_commands()])
def test_every_verb_accepts_every_flag_of_its_command(name):
    _, parser, verbs = next(c for c in verb_commands() if c[0] == name)
    flags = {
        s for a in parser._actions if a.option_strings for s in a.option_strings if s != "-h"
    } - {"--help", "--version"}

    assert isinstance(verbs, VerbsAction), f"{name}: build its verbs with opscore.cli.add_verbs"
    for verb, sub in verbs.choices.items():
        missing = flags - set(sub._option_string_actions)
        assert not missing, f"`{name} {verb}` refuses {sorted(missing)} after the verb"


def test_flags_typed_before_the_command_go_after_it():
    """`opscore --json status` exited 1 ("Unknown command: '--json'"): Django reads the first
    word as the command."""
    from opscore.cli import command_first

    assert command_first(["opscore", "--json", "status"]) == ["opscore", "status", "--json"]
    assert command_first(["opscore", "--json", "memory", "search", "--query", "disk"]) == [
        "opscore",
        "memory",
        "--json",
        "search",
        "--query",
        "disk",
    ]
    assert command_first(["opscore", "status", "--json"]) == ["opscore", "status", "--json"]
    assert command_first(["opscore", "--help"]) == ["opscore", "--help"]


def test_the_console_script_takes_json_before_the_command(tmp_path):
    assert "health" in status_from(tmp_path, "--json", "status")


def test_an_argument_that_is_not_utf8_is_refused_before_any_command_runs(capsys):
    from opscore.cli import main
    from opscore.models import Override

    # what Python makes of the bytes b"x\xff" in argv (PEP 383's surrogateescape)
    argv = ["opscore", "override", "pause-lane", "roundtable", "--reason", "x\udcff"]

    with pytest.raises(SystemExit) as refused:
        main(argv)

    assert refused.value.code == 2
    assert "argument 5 is not valid UTF-8" in capsys.readouterr().err
    assert not Override.objects.exists()


def test_a_command_against_a_database_not_set_up_says_so_in_one_line(tmp_path):
    """Before `make run` first migrates it (or on a new DATABASE_URL) every table is missing:
    a command says what to do, not a page of traceback."""
    import psycopg

    empty = f"opscore_empty_{os.getpid()}"
    admin = database_url().rsplit("/", 1)[0]
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as server:
        server.execute(f"CREATE DATABASE {empty}")
    try:
        done = subprocess.run(
            [OPSCORE, "proposal", "list"],
            cwd=tmp_path,
            env=os.environ | {"DATABASE_URL": f"{admin}/{empty}", "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as server:
            server.execute(f"DROP DATABASE {empty}")

    said = [line for line in done.stderr.splitlines() if line.startswith("opscore proposal:")]
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(said) == 1 and 'relation "missions_proposal" does not exist' in said[0]
    assert said[0].endswith(
        "the database is not set up yet: run `make run` once, or `.venv/bin/opscore migrate`"
    )


def test_a_reader_that_stops_early_ends_the_command_without_a_traceback(tmp_path):
    """`opscore status | head -3` printed three lines, then a BrokenPipeError traceback from the
    fourth: the reader leaving is no error of the command's. It stops quietly, exit 141 (as a
    shell reports a command that SIGPIPE ended), and says nothing of a pipe on stderr."""
    child = subprocess.Popen(
        [OPSCORE, "status"],
        cwd=tmp_path,
        env=os.environ | {"DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child.stdout.close()  # the reader is gone before the first line is written

    said = child.stderr.read()
    child.wait(timeout=120)

    assert child.returncode == 141
    assert "Traceback" not in said and "BrokenPipe" not in said and "Exception ignored" not in said
