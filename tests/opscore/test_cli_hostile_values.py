"""What a person types that argparse reads another way than they meant is refused in one line
that says how to type it, and nothing is written."""

import io

import pytest
from django.core.management import call_command

from missions.models import Comment, Mission
from opscore.cli import main
from opscore.models import Event, Override
from tests.factories import make_step

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


def full_width(number: int) -> str:
    return "".join(chr(0xFF10 + int(d)) for d in str(number))


def arabic_indic(number: int) -> str:
    return "".join(chr(0x0660 + int(d)) for d in str(number))


@pytest.mark.parametrize("spell", [full_width, arabic_indic, lambda n: f" {n}"])
def test_an_id_not_in_ascii_digits_is_refused_not_read_as_another(capsys, agent, spell):
    """int() read a full-width 5, an Arabic-Indic 5 and " 5" each as 5: `mission pause` given
    a full-width 5 paused mission 5, or said "no mission 5", a number nobody typed."""
    mission = make_step(agent=agent).mission

    said = refusal(capsys, "mission", "pause", spell(mission.id), "--reason", "quiet")

    assert "digits 0-9" in said
    assert not Mission.objects.get(pk=mission.pk).paused_at


@pytest.mark.parametrize(
    "words",
    [
        ["override", "lift", "\uff11", "--reason", "x"],
        ["goal", "show", "\u0663"],
        ["proposal", "approve", "\uff11", "--as", "ann"],
        ["thread", "comment", "mission", "1", "hi", "--answers", "\uff12"],
        ["agentbus", "complete-job", "\uff11", "--lease-token", "t"],
        ["memory", "promote", "\uff11"],
    ],
    ids=lambda words: " ".join(words[:2]),
)
def test_each_command_reads_ids_in_ascii_digits_only(capsys, words):
    with pytest.raises(SystemExit) as exited:
        main(["opscore", *words, *(["--json"] if words[0] != "agentbus" else [])])

    assert exited.value.code == 2
    assert "digits 0-9" in capsys.readouterr().out


@pytest.mark.parametrize(
    "words",
    [
        ["mission", "note", "1", "-fix-later"],
        ["mission", "deadline", "1", "-2h", "--reason", "x"],
    ],
    ids=" ".join,
)
def test_a_positional_starting_with_a_dash_is_told_how_to_give_it(capsys, words):
    """`mission note 1 -fix-later` said only "the following arguments are required: text",
    about the text the person had just typed."""
    said = refusal(capsys, *words)

    assert "after --" in said
    assert not Event.objects.filter(kind__startswith="mission.").exists()


def test_an_operator_name_is_kept_without_what_hides_or_reorders_it(agent):
    """`thread comment … --as` and `agent_token … --operator` kept a right-to-left override in
    the actor (`operator:ann` + U+202E + `evil` shows as "operator:annlive"), where the API and
    `bootstrap` keep every actor the ledger names on one line without it."""
    mission = make_step(agent=agent).mission
    spoofed = "ann\u202eevil\nx"

    out = io.StringIO()
    call_command("thread", "comment", "mission", mission.id, "hi", f"--as={spoofed}", stdout=out)
    call_command(
        "agent_token", "issue", agent.slug, "--name=n", f"--operator={spoofed}", stdout=out
    )

    assert Comment.objects.get(actor__startswith="operator:").actor == "operator:annevil x"
    assert Event.objects.get(kind="agent_token.issued").actor == "operator:annevil x"


@pytest.mark.parametrize("verb", ["claim-jobs", "renew-job-lease"])
def test_lease_seconds_in_full_width_digits_are_refused(capsys, verb):
    """float() read a full-width 600 as 600: a lease asked for in digits nobody can check."""
    takes = {
        "claim-jobs": ["--target-agent", "a", "--lease-owner", "o"],
        "renew-job-lease": ["1", "--lease-token", "t"],
    }
    with pytest.raises(SystemExit) as exited:
        main(["opscore", "agentbus", verb, "--lease-seconds", "\uff16\uff10\uff10", *takes[verb]])

    assert exited.value.code == 2
    assert "digits 0-9" in capsys.readouterr().out


def test_a_pause_between_turns_in_full_width_digits_is_refused(capsys):
    words = ["converse", "--format", "standup", "--agents", "a,b", "--topic", "t"]

    said = refusal(capsys, *words, "--pause", "\uff15")

    assert "digits 0-9" in said
