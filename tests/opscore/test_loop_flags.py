"""The long-running commands' numbers of seconds and their slot are checked where argparse reads
them: a NaN, negative or zero idle poll made `deliver` (and a worker session) ask the database
for work in a tight loop instead of waiting; a NaN or negative session ended at once with exit 0,
having done nothing; a slot past a Postgres integer failed on the advisory lock; and `up --port`
past 65535 or below 0 ended in a traceback (OverflowError from bind), 0 served on a port no
banner named."""

import pytest
from django.core.management import CommandError, get_commands, load_command_class


def parse(name: str, *words: str):
    return (
        load_command_class(get_commands()[name], name)
        .create_parser("opscore", name)
        .parse_args(list(words))
    )


REFUSED = """deliver --idle-poll nan | deliver --idle-poll -1 | deliver --idle-poll 0 |
deliver --idle-poll inf | work --idle-poll nan | work --idle-poll -5 | work --seconds nan |
work --seconds -5 | work --seconds inf | work --slot -1 | work --slot 99999999999 |
coding drive --seconds nan | coding drive --seconds -1 | up --port 99999 | up --port -1 |
up --port 0 | up --no-serve --port 70000"""


@pytest.mark.parametrize("words", [c.split() for c in REFUSED.split("|")], ids=" ".join)
def test_a_number_of_seconds_or_a_slot_out_of_range_is_refused_before_anything_runs(words):
    with pytest.raises(CommandError) as refused:
        parse(*words)

    assert f"argument {words[-2]}: '{words[-1]}' is not " in str(refused.value)


@pytest.mark.parametrize(
    "words",
    [
        ("deliver", "--idle-poll", "120"),
        ("work", "--seconds", "600", "--idle-poll", "0.5"),
        ("work", "--slot", "3"),
        ("coding", "drive", "--seconds", "0"),
        ("up", "--port", "8001"),
    ],
    ids=" ".join,
)
def test_the_values_the_supervisor_and_the_readme_use_still_parse(words):
    assert parse(*words)
