"""Which kind of process this is, for the few defaults that suit one kind alone: console/asgi.py
says it is the web server before Django reads the settings (it is imported first there), and
opscore.cli.main names the command it runs."""

import os

ASGI = False  # True in the ASGI server: its sync code runs on a fresh thread per request

# The words that started this command (`opscore mission pause 3` → "mission pause 3"), flags
# left out; in the environment, so the processes a command starts for its own work (django-q2's)
# inherit it. A server started as a command's child says ASGI and serves as a server.
COMMAND_ENV = "OPSCORE_COMMAND"


def command() -> tuple[str, ...]:
    """The command's words, () in a server, a test run or anything not started as a command."""
    return () if ASGI else tuple(os.environ.get(COMMAND_ENV, "").split())


def named_command(argv: list[str]) -> tuple[str, ...]:
    return tuple(word for word in argv[1:] if not word.startswith("-"))


def started_by(command: tuple[str, ...], starts) -> bool:
    """Whether `command` begins with one of `starts` (each a tuple of words)."""
    return any(command[: len(start)] == tuple(start) for start in starts)
