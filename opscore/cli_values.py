"""The values a command's arguments take, each refused in one line that says how to give it:
ids and counts in ASCII digits (`whole`), numbers within bounds (`bounded`), and the hint for a
value argparse read as an option because it starts with '-' (`dash_value_hint`). opscore.cli
re-exports them for the commands."""

import argparse
import re

from opscore.inputs import whole_number


def whole(text: str) -> int:
    """An argparse type for an id or a count, in ASCII digits as the API reads them. int()
    read a full-width 5 (U+FF15), an Arabic-Indic 5 (U+0665) and " 5" each as 5: `mission
    pause` given a full-width 5 paused mission 5, or answered "no mission 5", a number the
    person never typed."""
    number = whole_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number in digits 0-9")
    return number


def decimal(text: str) -> float:
    """An argparse type for a number of seconds, in ASCII digits: float() read a full-width 600
    as 600. What is not a number is argparse's own "invalid float value"."""
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in digits 0-9")
    return float(text)


decimal.__name__ = "float"


def bounded(low: float, high: float, kind=int, unit: str = ""):
    """An argparse type refusing a value outside [low, high] in one line, NaN and infinity too:
    `choices` listed all 101 allowed `--examples`, a clamp ran with another deadline than the one
    asked for, and a NaN or negative wait between polls turned a loop's wait into a busy loop."""

    def parse(text: str):
        if not text.isascii():  # float() and int() read a full-width 5 as 5
            raise argparse.ArgumentTypeError(f"{text!r} is not a number in digits 0-9")
        value = kind(text)  # not a number: argparse's own "invalid … value"
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text!r} is not {low:.12g} to {high:.12g}{unit}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value"
    return parse


# The long-running loops' waits between polls and their sessions (work, deliver, drive).
IDLE_POLL = bounded(0.1, 3600, float, " seconds")
SESSION_SECONDS = bounded(0, 7 * 86400, float, " seconds")


NO_VALUE = re.compile(r"argument (?P<option>--[\w-]+)(?:/\S+)?: expected one argument")


def dash_value_hint(message: str, dashed: list[str]) -> str:
    """argparse reads `--expires -5m` or `note 1 -fix` as another option, not the value:
    "expected one argument" or "the following arguments are required" alone sent people
    looking for a value they had typed. Said how to give it. `dashed`: the words typed that
    start with '-' and name no option."""
    if match := NO_VALUE.fullmatch(message):
        option = match["option"]
        return f"{message} (a value starting with '-' is written {option}=VALUE)"
    if dashed and message.startswith("the following arguments are required"):
        word = dashed[0][:40]
        return (
            f"{message} ({word!r} was read as an option; a value starting with '-' goes after --)"
        )
    return message
