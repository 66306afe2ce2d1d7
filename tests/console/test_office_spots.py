"""The office: every agent its own spot (no two names printed over each other), labels that
say where an agent is, and "Happening now" in sentences with its backlog on load."""

import pytest

from console.stage.floor import COFFEE_SPOTS
from console.stage.scenes import office_states
from missions.worker import handle_one_step
from opscore.db import db_now
from roundtable.models import Conversation
from tests.factories import AgentFactory, propose

pytestmark = pytest.mark.django_db
NAME_HALF_WIDTH, STATE_HALF_WIDTH = 13, 11  # 10 characters of 4 px monospace, and a margin


def label_boxes(sprite) -> list[tuple[float, float, float, float]]:
    """Where the page prints the name (y+16..y+21) and the state (y-6..y-1), centred at x+4."""
    x, y = sprite["x"] + 4, sprite["y"]
    return [
        (x - NAME_HALF_WIDTH, x + NAME_HALF_WIDTH, y + 16, y + 21),
        (x - STATE_HALF_WIDTH, x + STATE_HALF_WIDTH, y - 6, y - 1),
    ]


def overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def assert_nothing_overprints(sprites):
    boxes = [(s["slug"], box) for s in sprites for box in label_boxes(s)]
    clashes = [
        (a, b)
        for i, (a, one) in enumerate(boxes)
        for b, two in boxes[i + 1 :]
        if a != b
        if overlap(one, two)
    ]
    assert not clashes


def test_ten_idle_agents_each_have_their_own_spot_and_no_name_overprints(db):
    for n in range(10):
        AgentFactory(slug=f"agent-{n:02d}", display_name=f"Agent {n:02d}xx")

    sprites = office_states(db_now())

    assert len({(s["x"], s["y"]) for s in sprites}) == 10
    assert_nothing_overprints(sprites)


def test_six_agents_at_the_table_and_the_rest_idle_never_overprint(db):
    slugs = [f"agent-{n:02d}" for n in range(10)]
    for slug in slugs:
        AgentFactory(slug=slug)
    Conversation.objects.create(
        format="standup", topic="x", participants=slugs[:8], status="running"
    )

    sprites = office_states(db_now())

    assert sum(s["state"] == "chatting" for s in sprites) == 8  # two beyond the six seats
    assert len({(s["x"], s["y"]) for s in sprites}) == 10
    assert_nothing_overprints(sprites)


def test_an_idle_agent_at_its_desk_reads_idle_not_coffee(db):
    for n in range(5):
        AgentFactory(slug=f"agent-{n:02d}")

    sprites = office_states(db_now())

    at_coffee = [s for s in sprites if s["tile"] in COFFEE_SPOTS]
    assert {s["state"] for s in at_coffee} == {"coffee"}
    assert {s["state"] for s in sprites if s not in at_coffee} == {"idle"}


def test_happening_now_reads_in_sentences_and_has_its_backlog_on_load(client, settings):
    settings.STAGE_PUBLIC = True
    devops = AgentFactory(slug="devops", display_name="DevOps")
    propose(devops, "analyze", title="Check the disks")
    handle_one_step("w1")

    log = client.get("/stage/office").content.decode().split('id="office-log"')[1]

    assert "DevOps started “Check the disks”." in log
    assert "DevOps finished an analyze step of “Check the disks”." in log
    assert "step.succeeded" not in log
