"""A conversation's page lists all it left behind: besides its memories and drift, the
proposals its action items became (work it put before the intake) and each item its
distillation dropped, with the reason. The page showed neither, and `converse` counted the
dropped without saying why."""

import io

import pytest
from django.core.management import call_command

from missions.models import Proposal
from opscore.actions import set_policy
from roundtable.distillation import Distillation, apply_distillation
from roundtable.lifecycle import close_conversation, request_conversation

pytestmark = pytest.mark.django_db
ITEMS = [
    {"agent": "research", "title": "Dig into it", "step_kind": "analyze"},
    {"agent": "devops", "title": "Fix the disk alerts", "step_kind": "analyze"},
]


def test_the_page_lists_the_proposals_made_and_the_items_dropped_with_why(client, crew):
    people = ["coordinator", "devops", "security"]
    talk = request_conversation("war_room", people, "disks", source="schedule")
    talk.distillation = apply_distillation(
        talk, Distillation(memories=[], pairwise_drift=[], action_items=ITEMS)
    )
    talk.save(update_fields=["distillation"])
    close_conversation(talk, "succeeded", "")
    made = Proposal.objects.get()

    page = client.get(f"/stage/conversations/{talk.id}").content.decode()

    assert f"P{made.id}</code> Fix the disk alerts" in page
    assert "action 0: research did not take part in this conversation" in page


def test_converse_says_why_it_dropped_what_it_dropped(crew):
    set_policy("relationship_drift_policy", {"enabled": False}, actor="test")
    out = io.StringIO()

    call_command(
        "converse", "--format", "watercooler", "--agents", "devops,security", "--topic",
        "disks", "--seed", "1", "--pause", "0", stdout=out,
    )  # fmt: skip

    said = out.getvalue().splitlines()
    assert said[-3].endswith("dropped 2")
    assert said[-2] == "   drift 0: relationship_drift_policy is switched off"
    assert said[-1] == "   action 0: a watercooler files no action items (only formal formats do)"


def test_an_informal_conversations_action_items_are_listed_as_dropped(crew):
    """Only formal formats file action items; a watercooler's were ignored without a word,
    neither proposals nor among what its distillation dropped."""
    talk = request_conversation("watercooler", ["devops", "security"], "disks", source="schedule")

    left = apply_distillation(
        talk, Distillation(memories=[], pairwise_drift=[], action_items=ITEMS)
    )

    assert not Proposal.objects.exists()
    assert left["dropped"] == [
        "action 0: a watercooler files no action items (only formal formats do)",
        "action 1: a watercooler files no action items (only formal formats do)",
    ]
