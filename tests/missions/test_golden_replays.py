"""Prompt regression tests: every recorded mission of the golden set (tests/golden/) replays
offline, call by call, identical to its record. A failure shows the diff of the prompt or
decision that changed; rewrite the set only for a deliberate change (see tests/golden)."""

import json
import os

import pytest

from missions.actions import submit_proposal
from missions.models import Mission
from missions.replay import replay_mission
from missions.worker import handle_one_step
from opscore.replay import readable
from tests.factories import AgentFactory
from tests.golden import HERE, export_mission, load_mission

pytestmark = pytest.mark.django_db
GOLDEN = sorted(HERE.glob("*.json"))


def test_the_golden_set_is_not_empty():
    assert [path.name for path in GOLDEN] == ["mission_research_to_tweet.json"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda path: path.stem)
def test_a_golden_mission_replays_identically_offline(path):
    mission = load_mission(path)

    run = replay_mission(mission.id)

    assert run.outcome == "identical", readable(run)
    assert run.calls == len(json.loads(path.read_text())["calls"]) and run.cost_usd == 0


@pytest.mark.skipif(not os.environ.get("OPS_GOLDEN_WRITE"), reason="OPS_GOLDEN_WRITE=1 rewrites")
def test_write_the_golden_set():
    agent = AgentFactory(slug="research", tone="curious", signature="research here")
    kinds = {"analyze": "durable queues", "write_content": "a post", "draft_tweet": "a tweet"}
    steps = [{"kind": kind, "payload": {"topic": topic}} for kind, topic in kinds.items()]
    data = {"agent": agent.slug, "title": "Durable queues", "steps": steps}
    mission = Mission.objects.get(proposal=submit_proposal(data, source="api").proposal)
    while handle_one_step("golden"):
        pass
    path = HERE / "mission_research_to_tweet.json"
    path.write_text(json.dumps(export_mission(mission), indent=1, sort_keys=True) + "\n")
