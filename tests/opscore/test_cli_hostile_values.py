"""What a person types that argparse reads another way than they meant is refused in one line
that says how to type it, and nothing is written."""

import pytest

from opscore.cli import main
from opscore.models import Override

pytestmark = pytest.mark.django_db


def refusal(capsys, *words) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["opscore", *words])
    lines = capsys.readouterr().err.splitlines()
    assert exited.value.code == 2 and len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "words, option",
    [
        (["override", "pause-lane", "memory", "--reason", "x", "--expires", "-5m"], "--expires"),
        (["override", "lift", "1", "--reason", "-x"], "--reason"),
    ],
)
def test_a_value_starting_with_a_dash_is_told_how_to_give_it(capsys, words, option):
    """`--expires -5m` said only "expected one argument": argparse takes a word starting with
    '-' for another option, and the person read it as their value being missing."""
    said = refusal(capsys, *words)

    assert f"{option}=" in said
    assert not Override.objects.exists()
