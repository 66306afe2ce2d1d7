"""Why did this happen? The lineage of a mission a reaction created, walked from any row."""

import random

import pytest

from console.lineage import LineageNotFound, flatten, lineage
from memory.models import Memory
from missions.loop import match_reactions, process_reactions
from missions.models import Mission, Step
from missions.worker import handle_one_step
from opscore.actions import record_event, set_policy
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
FAR = 10**12


@pytest.fixture
def chain(agent):
    AgentFactory(slug="growth", max_concurrent_steps=5)
    pattern = {
        "source": "*",
        "tags": ["tweet", "posted"],
        "target": "growth",
        "type": "analyze",
        "probability": 1.0,
        "cooldown": 0,
    }
    set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t", reason="test")
    posted = record_event("tweet.posted", "We shipped!", agent=agent, tags=["tweet", "posted"])
    match_reactions(random.Random(1))
    process_reactions(FAR)
    mission = Mission.objects.get(agent_id="growth")
    while handle_one_step("w1"):
        pass
    attempt = Step.objects.get(mission=mission).attempts.get()
    learned = Memory.objects.create(
        agent=agent,
        type="lesson",
        content="shipping posts land",
        confidence="0.7",
        source_trace_id="m1",
        evidence=[{"type": "attempt", "id": attempt.id}],
    )
    return posted, mission, learned


def texts(nodes) -> list[str]:
    return [f"{n.kind}: {n.text}" for n in flatten(nodes)]


def test_a_reaction_made_mission_shows_its_whole_chain_from_any_row(chain):
    _, mission, learned = chain
    step = Step.objects.get(mission=mission)

    for kind, pk in [("mission", mission.id), ("step", step.id), ("proposal", mission.proposal_id)]:
        found = lineage(kind, pk)
        causes, effects = texts(found["causes"]), texts(found["effects"])
        assert any(t.startswith("reaction: reaction") for t in causes)
        assert "event: tweet.posted: We shipped!" in causes
        assert any(t.startswith(f"step: S{step.id} analyze [succeeded]") for t in effects)
        assert any(t.startswith("attempt: attempt 1: succeeded") for t in effects)
        assert any("step.succeeded" in t for t in effects)
        assert [n.id for n in found["memories"]] == [learned.id]


def test_the_cause_event_shows_what_it_caused_and_every_page_renders(chain, client, settings):
    posted, mission, learned = chain
    settings.STAGE_PUBLIC = True

    found = lineage("event", posted.id)

    assert any(f"P{mission.proposal_id}" in t for t in texts(found["effects"]))
    for kind, pk in [("event", posted.id), ("mission", mission.id), ("memory", learned.id)]:
        page = client.get(f"/stage/lineage/{kind}/{pk}")
        assert page.status_code == 200 and "Why did" in page.content.decode()
    assert client.get("/stage/lineage/mission/999999").status_code == 404
    assert client.get("/stage/lineage/coffee/1").status_code == 404
    with pytest.raises(LineageNotFound):
        lineage("coffee", 1)


def test_a_lineage_of_nothing_is_the_stages_own_not_found_page(client, settings):
    settings.STAGE_PUBLIC = True

    for kind, pk in [("mission", 999999), ("coffee", 1)]:
        page = client.get(f"/stage/lineage/{kind}/{pk}")

        assert page.status_code == 404
        assert f"There is no {kind} {pk}." in page.content.decode()
        assert "Back to the feed" in page.content.decode()


def test_the_admin_has_the_same_page(chain, admin_client):
    _, mission, _ = chain

    page = admin_client.get(f"/admin/lineage/mission/{mission.id}/")
    change = admin_client.get(f"/admin/missions/mission/{mission.id}/change/")

    assert page.status_code == 200 and "The work and what it produced" in page.content.decode()
    assert f"/admin/lineage/mission/{mission.id}/" in change.content.decode()


def test_the_tree_indents_by_class_because_the_csp_refuses_inline_styles(chain, client, settings):
    _, mission, _ = chain
    settings.STAGE_PUBLIC = True

    page = client.get(f"/stage/lineage/mission/{mission.id}")
    html = page.content.decode()

    assert "style-src 'self'" in page["Content-Security-Policy"]
    assert "style=" not in html
    assert 'class="lineage-step depth-1"' in html or "depth-1" in html
    assert "depth-2" in html
    assert "stage/lineage.css" in html
