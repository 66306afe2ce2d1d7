"""The README runs as pasted: every command line it shows parses with the command's own parser
(argparse errors fail, naming the README line), the read-only ones run on the test database, its
`propose` example is accepted by the intake, the agents it names are ones a fresh install enables,
and a `psql` line names the server it talks to."""

import argparse
import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command, get_commands, load_command_class

from console.agentbus_remote import verb_actions, verb_parsers
from missions.models import Proposal
from tests.readme_commands import ReadmeCommand, agent_api_calls, readme_commands

ROOT = Path(__file__).resolve().parent.parent.parent
COMMANDS = readme_commands((ROOT / "README.md").read_text())
# Read-only: safe to run on the test database. (name, verb or None, a flag it must carry)
SAFE = [
    ("status", None, None),
    ("check", None, None),
    ("heartbeat", None, "--help"),
    ("bootstrap", None, "--check"),
    ("coding", "doctor", None),
    ("coding", "runs", None),
    ("override", "list", None),
    ("memory", "candidates", None),
    ("words", "list", None),
]


def parser_for(name: str):
    app = get_commands().get(name)
    assert app, f"no command {name!r}"
    return load_command_class(app, name).create_parser("opscore", name)


def verbs_of(parser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def filled(parser, args: list[str]) -> list[str] | None:
    """`--kind …` gets a value the option takes; a bare `…` (elided arguments) gives None."""
    verbs = verbs_of(parser)
    sub = verbs.choices.get(args[0]) if verbs and args else None
    options = parser._option_string_actions | (sub._option_string_actions if sub else {})
    out = []
    for word in args:
        if word != "…":
            out.append(word)
        elif out and out[-1] in options:
            choices = options[out[-1]].choices
            out.append(str(next(iter(choices))) if choices else "x")
        else:
            return None
    return out


def ids(commands):
    return [f"L{c.line}:{' '.join(c.argv)[:60]}" for c in commands]


@pytest.mark.parametrize("command", COMMANDS, ids=ids(COMMANDS))
def test_every_readme_command_line_parses(command: ReadmeCommand):
    name, *args = command.argv
    parser = parser_for(name)
    args = filled(parser, args)
    if args is None:  # `coding register …`: only the verb is written out
        verbs = verbs_of(parser)
        assert verbs is None or command.argv[1] in verbs.choices, f"unknown verb in {command}"
        return
    try:
        parser.parse_args(args)
    except (CommandError, SystemExit) as refused:
        pytest.fail(f"{command}\n  does not parse: {refused}")


def safe(command: ReadmeCommand) -> bool:
    name, *args = command.argv
    return any(
        name == safe_name
        and (verb is None or args[:1] == [verb])
        and (flag is None or flag in args)
        and (flag is not None or "--deploy" not in args)
        for safe_name, verb, flag in SAFE
    )


SAFE_COMMANDS = [c for c in COMMANDS if safe(c)]


@pytest.mark.django_db
@pytest.mark.parametrize("command", SAFE_COMMANDS, ids=ids(SAFE_COMMANDS))
def test_the_read_only_readme_commands_run(command: ReadmeCommand, agent):
    out, err = StringIO(), StringIO()
    try:
        call_command(*command.argv, stdout=out, stderr=err)
    except SystemExit as exit_:
        # `bootstrap --check` exits 1 when a criterion fails: it ran, and said which.
        assert exit_.code in (0, 1) and "--check" in command.argv, f"{command}: exit {exit_.code}"
    except CommandError as refused:
        pytest.fail(f"{command}\n  failed: {refused}")
    assert out.getvalue() or err.getvalue(), f"{command} printed nothing"


PROPOSE = [c for c in COMMANDS if c.argv[0] == "propose"]


@pytest.mark.django_db
@pytest.mark.parametrize("command", PROPOSE, ids=ids(PROPOSE))
def test_the_readme_propose_example_is_accepted(command: ReadmeCommand, agent):
    try:
        call_command(*command.argv, stdout=StringIO())
    except (CommandError, SystemExit) as refused:
        pytest.fail(f"{command}\n  refused: {refused}")
    assert Proposal.objects.get().status != "rejected", command


def test_both_entry_points_count_and_usage_expands():
    text = """
```sh
.venv/bin/opscore status --json && .venv/bin/python manage.py override list  # both
OPS_X=1 .venv/bin/opscore coding doctor \\
    --json
make run
```
See `.venv/bin/opscore memory search --agent a [--json]` or `manage.py coding runs | drive`.
"""
    argv = [c.argv for c in readme_commands(text)]

    assert argv == [
        ("status", "--json"),
        ("override", "list"),
        ("coding", "doctor", "--json"),
        ("memory", "search", "--agent", "a"),
        ("memory", "search", "--agent", "a", "--json"),
        ("coding", "runs"),
        ("coding", "drive"),
    ]


# Options whose value names agents: the README's examples run on what `make run` sets up.
AGENT_OPTIONS = ("--agent", "--agents", "--owner")


def named_agents(command: ReadmeCommand) -> set[str]:
    argv = command.argv
    values = [argv[i + 1] for i, word in enumerate(argv[:-1]) if word in AGENT_OPTIONS]
    return {slug for value in values for slug in value.split(",")}


def test_the_readme_names_only_agents_a_fresh_install_enables():
    """`converse --agents devops,security` was refused on a fresh install ("not enabled or
    unknown: security"): `make run` enables phase 1's agents only."""
    from console.roster import load_roster

    enabled = {a.slug for a in load_roster("ops-ten").agents if a.phase == 1}
    strangers = [
        f"{command} names {sorted(named_agents(command) - enabled)}"
        for command in COMMANDS
        if named_agents(command) - enabled
    ]
    assert not strangers, f"not enabled by phase 1 ({sorted(enabled)}):\n" + "\n".join(strangers)


def test_every_psql_line_names_the_server_it_talks_to():
    """A bare `psql -c …` reaches libpq's default server, not Opscore's embedded one: a
    newcomer's query answered "relation … does not exist" from another database."""
    text = (ROOT / "README.md").read_text()
    spans = re.findall(r"(?<!`)`([^`]+)`(?!`)", text) + re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = [line.strip() for span in spans for line in span.splitlines()]
    named = re.compile(r"psql\s+([\"']?(\$|postgres(ql)?://)|-d|-h|--dbname|--host)")
    bare = [line for line in lines if re.match(r"psql\s", line) and not named.match(line)]
    assert not bare, f"psql with no server named: {bare}"


AGENT_CALLS = agent_api_calls((ROOT / "README.md").read_text())


def test_the_readme_shows_the_outside_runtimes_whole_loop():
    verbs = [call.verb for call in AGENT_CALLS]
    assert {"enqueue-job", "claim-jobs", "renew-job-lease", "complete-job"} <= set(verbs), verbs


@pytest.mark.parametrize("call", AGENT_CALLS, ids=[f"L{c.line}:{c.verb}" for c in AGENT_CALLS])
def test_every_readme_agent_api_call_sends_options_its_verb_takes(call):
    """The worked curl example is pasted as is: a verb renamed or an option dropped would answer
    404 or 400 ("unknown options") to a newcomer, not fail here."""
    parser = verb_parsers().get(call.verb)
    assert parser, f"{call}: no such verb"
    body = json.loads(call.body)
    unknown = set(body) - {action.dest for action in verb_actions(parser)}
    assert not unknown, f"{call}: {call.verb} takes no {sorted(unknown)}"
