"""The command line: `opscore …` (manage.py as a console script), and the helpers every command
uses to speak JSON to scripts and text to people.

- `main`: the `.venv/bin/opscore` entry point, so a README line runs as pasted from any
  directory, without remembering which python.
- `dump(data)`: the one JSON shape commands print (indented, keys sorted, dates as strings).
- `fail(message, as_json=…)`: bad input or a refusal. With `--json`, the API's error object
  (`{"ok": false, "error", "errors"}`) on stdout and the exit code; without, Django's
  CommandError (stderr, exit 1).
- `OpsCommand`: every command's base: what it prints reaches a terminal with control and
  escape characters named (⟨U+001B⟩), never obeyed.
- `add_verbs(parser)`: subcommands (`override pause-lane …`) that accept the command's own flags on
  either side of the verb, so `override --json list` and `override list --json` both work.

Exit codes: 0 done; 1 it ran and failed (`FAILED`); 2 refused: bad input, unknown id, a rule
said no (`REFUSED`); 130 Ctrl-C; 141 the reader of its output left (`| head`). The agent bus
adds 3 for a write the lease refused (console agentbus).
"""

import argparse
import copy
import json
import os
import sys
from difflib import get_close_matches
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from opscore.cli_values import (  # noqa: F401 (the commands import them from here)
    IDLE_POLL,
    SESSION_SECONDS,
    bounded,
    dash_value_hint,
    decimal,
    whole,
)
from opscore.inputs import LONE_SURROGATE
from opscore.text import reveal_invisible, strip_invisible

FAILED = 1
REFUSED = 2


def main(argv: list[str] | None = None) -> None:
    from opscore import serving, stopping
    from opscore.localenv import load_local_secrets

    argv = sys.argv if argv is None else argv
    refuse_undecodable(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    # before the settings are read: they give a short command the database deadlines
    os.environ[serving.COMMAND_ENV] = " ".join(serving.named_command(command_first(argv)))
    load_local_secrets()
    until_stopped = stopping.runs_until_stopped(argv)
    if until_stopped:
        stopping.EARLY.listen()
    try:
        run_command(command_first(argv))
    finally:
        if until_stopped:
            stopping.ignore_from_now_on()


def run_command(argv: list[str]) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        refuse_unknown_command(argv)  # the first to read the settings
        execute_from_command_line(argv)
    except ImproperlyConfigured as error:  # a bad setting in the environment: its one line
        said = "; ".join(str(error).split("\n"))
        failed(argv, f"opscore {command_named(argv)}: the configuration is wrong: {said}")
    except KeyboardInterrupt:  # Ctrl-C: every command was told to stop; no traceback for it
        sys.exit(130)
    except EOFError:  # Ctrl-D at a prompt (changepassword's), or no terminal to ask on
        said = "the input ended before it answered the prompt (Ctrl-D, or no terminal to ask on)"
        failed(argv, f"opscore {command_named(argv)}: {said}; run it in a terminal", REFUSED)
    except BrokenPipeError:  # `opscore status | head`: the reader left, no error of ours
        reader_gone()
    except DatabaseError as error:  # no command's own error: one line, not a traceback
        failed(argv, database_trouble(argv, error))


def failed(argv: list[str], line: str, code: int = FAILED) -> None:
    """A refusal or failure no command reported (the command line itself, the configuration,
    the database): its one line on stderr, and with --json the API's error object on stdout
    too, where a script parsing it found nothing (the API answers `{"ok": false, …}`)."""
    sys.stderr.write(line + "\n")
    if "--json" in argv[1:]:
        sys.stdout.write(dump({"ok": False, "error": line, "errors": {}}) + "\n")
    sys.exit(code)


def reader_gone() -> None:
    """Stop quietly, as SIGPIPE would have ended the command (128 + 13): stdout now points at
    /dev/null, so the interpreter's last flush finds no closed pipe to complain about."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    sys.exit(128 + 13)


UNDEFINED_TABLE = "42P01"


def database_trouble(argv: list[str], error) -> str:
    """What the database said, on one line, and what to do when it is only not set up yet (a
    command run before `make run` first migrated it, or against a new DATABASE_URL)."""
    from opscore.db_deadline import busy_reason
    from opscore.redaction import redact_text

    said = (str(error).strip().splitlines() or [type(error).__name__])[0]
    command = command_named(argv)
    if busy := busy_reason(error):
        return f"opscore {command}: {busy}; try again"
    hint = ""
    if getattr(error.__cause__, "sqlstate", None) == UNDEFINED_TABLE:
        hint = (
            "; the database is not set up yet: run `make run` once, or `.venv/bin/opscore migrate`"
        )
    return f"opscore {command}: the database refused it: {redact_text(said)}{hint}"


def command_named(argv: list[str]) -> str:
    return argv[1] if len(argv) > 1 else "opscore"


def refuse_undecodable(argv: list[str]) -> None:
    """Bytes in an argument that are not UTF-8 reach Python as lone surrogates (PEP 383), which
    no database driver can encode: refused here, before any command writes half its work."""
    for place, word in enumerate(argv[1:], start=1):
        if LONE_SURROGATE.search(word):
            said = f"argument {place} is not valid UTF-8 ({ascii(word)[:60]}); nothing was done"
            failed(argv, f"opscore: {said}", code=REFUSED)


def refuse_unknown_command(argv: list[str]) -> None:
    """A mistyped command is bad input: one line and exit 2 (Django says two lines, exit 1),
    as is `opscore help NOSUCH`, and flags with no command after them (`opscore --json`)."""
    named = argv[1:2]
    if named == ["help"]:  # `help --commands` is Django's own; `help NAME` names a command
        named = [word for word in argv[2:3] if not word.startswith("-")]
    if not named or named[0] in ("-h", "--help", "--version"):
        return
    if named[0].startswith("-"):  # command_first found no command word after the flags
        failed(argv, f"opscore: {named[0]} and no command to run; see opscore help", REFUSED)
    import django
    from django.core.management import get_commands

    django.setup()  # the command list comes from the installed apps
    if named[0] not in get_commands():
        guess = get_close_matches(named[0], get_commands(), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        said = f"unknown command {named[0]!r}{hint}; see opscore help"
        failed(argv, f"opscore: {said}", REFUSED)


def command_first(argv: list[str]) -> list[str]:
    """`opscore --json status` as `opscore status --json`: Django reads the first word as the
    command, so flags typed before it (the README says they go anywhere) move after it."""
    program, *words = argv
    leading = []
    while words and words[0].startswith("-") and words[0] not in ("-h", "--help", "--version"):
        leading.append(words.pop(0))
    if not words or not leading:
        return argv
    return [program, words[0], *leading, *words[1:]]


def dump(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def plain(value) -> str:
    """A JSON-like value as a person reads it on one line: `queued 2; running 0`, a
    list as its items, nothing as 'none' (`--json` keeps the structure for scripts)."""
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')} {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None or value == "" else str(value)


def fail(message: str, *, as_json: bool, errors: dict | None = None, code: int = FAILED):
    """Report bad input: a JSON error object on stdout for scripts (the API's own shape, so a
    script reads `ok` whichever way it asked), CommandError for people."""
    if not as_json:
        details = "".join(f"\n  {k}: {'; '.join(v)}" for k, v in (errors or {}).items())
        raise CommandError(message + details, returncode=code)
    sys.stdout.write(dump({"ok": False, "error": message, "errors": errors or {}}) + "\n")
    raise SystemExit(code)


def check_length(option: str, value: str, limit: int) -> None:
    """Refused here with the limit, where the database would refuse it with a traceback."""
    if not value.strip() or len(value) > limit:
        raise CommandError(
            f"{option}: 1 to {limit} characters ({len(value)} given)", returncode=REFUSED
        )


def actor_name(option: str, text: str) -> str:
    """An operator's name as the ledger keeps every actor it names (the API's, `bootstrap`'s):
    one line without what hides or reorders it, within the rows' actor columns. Kept as typed,
    a right-to-left override showed `ann` + U+202E + `evil` as "annlive" to every reader."""
    name = " ".join(strip_invisible(text).split())
    check_length(option, name, 150 - len("operator:"))
    return name


def login_name() -> str:
    """The account running the command, for a flag's default. A uid with no passwd entry and
    no USER or LOGNAME (a container's arbitrary uid) has no name: it is named by its number,
    where getpass.getuser() raised while the parser was being built."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def cli_author(username: str | None, *, as_json: bool) -> tuple[str, object]:
    """Who typed a proposal, as four-eyes reads authorship (Proposal.author): the person named
    by --as (one naming nobody is refused), else the account running the command, with its
    user when one has that name. Unrecorded, they approved their own work."""
    from opscore.four_eyes import deciding_user

    name = username or login_name()
    user = deciding_user(name)
    if user is None and username:
        fail(f"no active user {name!r}", as_json=as_json, code=REFUSED)
    return name, user


def given_path(option: str, text: str | None) -> Path | None:
    """A path flag as typed, None when left out. An empty one (`--dir "$UNSET"`) is refused:
    Path('') is '.', so the files landed wherever the operator happened to stand."""
    if text is not None and not text.strip():
        raise CommandError(
            f"{option}: an empty path; name a directory or leave {option} out", returncode=REFUSED
        )
    return None if text is None else Path(text)


class ShownOutput(OutputWrapper):
    """A command's stdout or stderr for a person: control, escape and bidi characters in what is
    written are named where they stand. A command prints what agents, models and outside callers
    wrote (titles, comments, answers, reasons); raw, `\x1b[2J` cleared the operator's screen, a
    CSI recoloured the session and a lone carriage return printed words over others. The
    command's own colours (`style_func`) are applied after, so they still colour."""

    def write(self, msg="", style_func=None, ending=None):
        super().write(reveal_invisible(msg), style_func, ending)


class Shown:
    """A command's stdout or stderr attribute that keeps whatever Django assigns to it (at
    construction, and again in execute() for call_command's stdout=) as ShownOutput."""

    def __set_name__(self, owner, name):
        self.slot = f"_shown_{name}"

    def __get__(self, command, owner=None):
        return self if command is None else getattr(command, self.slot)

    def __set__(self, command, wrapper: OutputWrapper) -> None:
        if not isinstance(wrapper, ShownOutput):
            shown = ShownOutput(wrapper._out, ending=wrapper.ending)
            shown._style_func, wrapper = wrapper._style_func, shown
        setattr(command, self.slot, wrapper)


class OpsParser(CommandParser):
    """Arguments a command refuses, refused the house way: one line on stderr and exit 2
    (argparse printed its usage block, then the error), or with --json the API's error object
    on stdout, where argparse left a script parsing it an empty string. Called from code
    (call_command), Django's CommandError as before."""

    json_asked = False
    words: tuple[str, ...] = ()

    def parse_known_args(self, args=None, namespace=None):
        self.words = tuple(sys.argv[1:] if args is None else args)  # for error()'s hint
        return super().parse_known_args(args, namespace)

    def error(self, message):
        if not self.called_from_command_line:
            super().error(message)
        known = self._option_string_actions
        dashed = [
            w for w in self.words if w[:1] == "-" and w.partition("=")[0] not in (*known, "--")
        ]
        message = dash_value_hint(message, dashed)
        if self.json_asked:
            fail(f"bad arguments: {message}", as_json=True, code=REFUSED)
        self.exit(REFUSED, f"{self.prog}: {message}; see {self.prog} --help\n")


def refuse_in_one_line(parser: CommandParser, json_asked: bool) -> None:
    """`parser` and its verbs' parsers as OpsParsers; a command's own parser class is kept."""
    if type(parser) is CommandParser:
        parser.__class__ = OpsParser
        parser.json_asked = json_asked
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb in action.choices.values():
                refuse_in_one_line(verb, json_asked)


class OpsCommand(BaseCommand):
    """Every Opscore command's base: Django's, printing through ShownOutput, its arguments
    refused in one line (OpsParser)."""

    stdout = Shown()
    stderr = Shown()
    json_asked = False

    def run_from_argv(self, argv):
        self.json_asked = "--json" in argv[2:]
        super().run_from_argv(argv)

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        refuse_in_one_line(parser, self.json_asked)
        return parser

    def execute(self, *args, **options):
        """A CommandError the command raised itself (check_length, given_path), with --json:
        the API's error object on stdout, as fail() prints, where Django wrote only
        `CommandError: …` on stderr."""
        try:
            return super().execute(*args, **options)
        except CommandError as error:
            if not self.json_asked or options.get("traceback"):
                raise
            fail(str(error), as_json=True, code=error.returncode)


# argparse only knows a flag on the parser that declared it: `--json` declared before the verbs
# is refused after one (exit 2). Every verb gets a copy of the parent's flags whose default is
# SUPPRESS, so a flag given after the verb sets the value and one not given leaves the parent's.
NOT_SHARED = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


class VerbsAction(argparse._SubParsersAction):
    """A subparsers action whose every parser also accepts the parent parser's flags."""

    parent: argparse.ArgumentParser | None = None

    def add_parser(self, name, **kwargs):
        kwargs.setdefault("description", kwargs.get("help"))  # `CMD VERB --help` says it too
        verb = super().add_parser(name, **kwargs)
        for action in self.parent._actions if self.parent else ():
            if action.option_strings and not isinstance(action, NOT_SHARED):
                shared = copy.copy(action)
                shared.default, shared.required = argparse.SUPPRESS, False
                verb._add_action(shared)
        return verb


def add_verbs(parser, dest: str = "verb", **kwargs) -> VerbsAction:
    """Declare the command's own flags first, then call this; every verb added shares them."""
    verbs = parser.add_subparsers(dest=dest, required=True, action=VerbsAction, **kwargs)
    verbs.parent = parser
    return verbs
