"""Give task by kind, the approvals inbox, the mission page and the admin's decision buttons."""

import pytest

from missions.models import Mission, Proposal
from missions.worker import handle_one_step
from tests.factories import propose

pytestmark = pytest.mark.django_db


def test_give_task_draws_each_kinds_fields_from_the_registry(admin_client, agent):
    page = admin_client.get("/stage/").content.decode()

    assert 'name="crawl-url"' in page and 'type="url"' in page
    assert 'name="analyze-topic"' in page and 'name="post_tweet-text"' in page
    assert 'name="token"' in page


def test_a_crawl_without_a_url_is_answered_in_place_with_the_field_named(admin_client, agent):
    answer = admin_client.post(
        "/stage/task", {"agent": "devops", "kind": "crawl", "title": "Read the docs"}
    )

    page = answer.content.decode()
    assert answer.status_code == 400
    assert "crawl needs url to read" in page
    assert 'value="Read the docs"' in page  # what was typed is kept
    assert 'name="crawl-url" type="url"' in page and 'aria-invalid="true"' in page
    assert not Proposal.objects.exists()


def test_a_crawl_with_its_url_carries_it_and_the_form_comes_back_empty(admin_client, agent):
    answer = admin_client.post(
        "/stage/task",
        {
            "agent": "devops",
            "kind": "crawl",
            "title": "Read the docs",
            "crawl-url": "https://example.com/docs",
            "analyze-topic": "not this kind's field",
            "token": "t1",
        },
    )

    step = Proposal.objects.get().mission.steps.get()
    assert step.payload == {"url": "https://example.com/docs"}
    assert "Accepted" in answer.content.decode()
    assert 'value="Read the docs"' not in answer.content.decode()


def test_a_double_submit_of_one_form_is_one_proposal(admin_client, agent):
    form = {"agent": "devops", "kind": "analyze", "title": "Once", "token": "same-form"}

    admin_client.post("/stage/task", form)
    admin_client.post("/stage/task", form)

    assert Proposal.objects.count() == 1
    assert Proposal.objects.get().mission.steps.get().payload == {"topic": "Once"}


def test_the_inbox_counts_pending_work_and_shows_its_steps_readably(admin_client, agent):
    propose(
        agent, "deploy", title="Ship it", steps=[{"kind": "deploy", "payload": {"target": "prod"}}]
    )

    strip = admin_client.get("/stage/health").content.decode()
    inbox = admin_client.get("/stage/approvals").content.decode()

    assert 'approvals</a> <b class="bad">1</b>' in strip
    assert "Ship it" in inbox and '<dt>target</dt><dd><pre class="input-value">prod</pre>' in inbox
    assert "{&quot;" not in inbox and '{"kind"' not in inbox  # readable, not JSON


def test_an_operator_approves_from_the_inbox_and_the_mission_starts(admin_client, agent):
    proposal = propose(agent, "deploy", title="Ship it")

    shown = {"decision": "approve", "digest": proposal.content_digest()}
    answer = admin_client.post(f"/stage/approvals/{proposal.id}", shown)

    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.decided_by == "operator:operator"
    assert f"M{proposal.mission.id}" in answer.content.decode()


def test_a_rejection_needs_a_reason_and_a_decided_proposal_cannot_be_decided_again(
    admin_client, agent
):
    proposal = propose(agent, "deploy", title="Ship it")

    no_reason = admin_client.post(f"/stage/approvals/{proposal.id}", {"decision": "reject"})
    admin_client.post(
        f"/stage/approvals/{proposal.id}", {"decision": "reject", "reason": "not today"}
    )
    again = admin_client.post(f"/stage/approvals/{proposal.id}", {"decision": "approve"})

    assert "a rejection needs a reason" in no_reason.content.decode()
    proposal.refresh_from_db()
    assert (proposal.status, proposal.reason) == ("rejected", "not today")
    assert "is rejected, not pending" in again.content.decode()


@pytest.mark.parametrize("decision", [{}, {"decision": "aprove"}])
def test_a_card_sent_without_approve_or_reject_decides_nothing(admin_client, agent, decision):
    """Read as "not approve", a missing or mistyped decision used to reject the proposal."""
    proposal = propose(agent, "deploy", title="Ship it")
    card = decision | {"reason": "hm"}

    stage = admin_client.post(f"/stage/approvals/{proposal.id}", card)
    admin = admin_client.post(f"/admin/missions/proposal/{proposal.id}/decide/", card, follow=True)

    assert "Not decided: the decision is approve or reject" in stage.content.decode()
    assert "Not decided: the decision is approve or reject" in admin.content.decode()
    assert Proposal.objects.get(pk=proposal.pk).status == "pending"


def test_visitors_see_the_inbox_but_cannot_decide(client, agent):
    proposal = propose(agent, "deploy", title="Ship it")

    assert "Sign in" in client.get("/stage/approvals").content.decode()
    assert (
        client.post(f"/stage/approvals/{proposal.id}", {"decision": "approve"}).status_code == 302
    )
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_the_admin_proposal_page_decides_with_buttons_and_reads_its_steps(admin_client, agent):
    proposal = propose(agent, "deploy", title="Ship it")
    page = admin_client.get(f"/admin/missions/proposal/{proposal.id}/change/").content.decode()

    assert 'name="decision" value="approve"' in page and "<b>deploy</b>" in page
    admin_client.post(
        f"/admin/missions/proposal/{proposal.id}/decide/",
        {"decision": "reject", "reason": "too risky"},
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.reason) == ("rejected", "too risky")


def test_the_mission_page_puts_attempts_on_an_axis_and_says_when_delayed_steps_run(client, agent):
    done = propose(agent, "noop", title="Quick one").mission
    handle_one_step("w1")
    later = propose(agent, title="Later", steps=[{"kind": "analyze", "delay_seconds": 3600}])

    page = client.get(f"/stage/missions/{done.id}").content.decode()
    delayed = client.get(f"/stage/missions/{later.mission.id}").content.decode()

    assert 'class="bar outcome-succeeded"' in page and "attempt 1: succeeded in" in page
    assert "runs at" in delayed and 'class="due"' in delayed
    assert Mission.objects.count() == 2


def test_an_unknown_mission_gets_a_styled_404(client, db):
    missing = client.get("/stage/missions/999999")

    assert missing.status_code == 404
    assert "There is no mission M999999" in missing.content.decode()
    assert "stage.css" in missing.content.decode()


def test_the_swimlane_zooms_draws_waiting_and_delayed_steps_and_keeps_disabled_history(
    client, agent
):
    from tests.factories import AgentFactory, make_step

    failed = make_step("test_fail", agent=agent, payload={"retryable": False})
    dead = make_step("test_fail", agent=agent, max_attempts=1)
    handle_one_step("w1")
    handle_one_step("w1")
    gone = AgentFactory(slug="retired")
    make_step("noop", agent=gone)
    handle_one_step("w1")
    gone.enabled = False
    gone.save()
    waiting = make_step("noop", agent=agent)
    later = propose(agent, title="Later", steps=[{"kind": "analyze", "delay_seconds": 1800}])

    page = client.get("/stage/swimlane?hours=1").content.decode()

    assert "last 1 hour" in page and 'href="?hours=24"' in page
    assert f"S{failed.id} test_fail failed" in page
    assert f"S{dead.id} test_fail dead" in page and 'fill="url(#hatch)"' in page
    assert f"S{waiting.id} noop queued" in page and "shape-waiting" in page
    assert f"S{later.mission.steps.get().id} analyze runs at" in page
    assert "retired (off)" in page
    assert client.get("/stage/swimlane?hours=nonsense").status_code == 200


def test_a_long_agent_name_ends_in_an_ellipsis_beside_its_lane_and_is_whole_in_its_tooltip(
    client, db
):
    from tests.factories import AgentFactory, make_step

    AgentFactory(slug="quarterly-revenue-forecast-analyst-eu-west")
    retired = AgentFactory(slug="retired-forecast-analyst")
    make_step("noop", agent=retired)
    retired.enabled = False
    retired.save()

    page = client.get("/stage/swimlane").content.decode()

    assert "<title>quarterly-revenue-forecast-analyst-eu-west</title>quarterly-revenue-…<" in page
    assert "<title>retired-forecast-analyst (off)</title>retired-fore… (off)<" in page
    assert "<title>retired-forecast-analyst</title>retired-forecast-a…<" in page  # at the end


def test_a_conversation_has_its_page_with_turns_memories_and_drift(client, db, clock):
    clock.midday()  # the conversation is today's when its page is read
    import random

    from roundtable.lifecycle import request_conversation
    from roundtable.speaking import run_conversation
    from tests.factories import AgentFactory

    for slug in ("devops", "security"):
        AgentFactory(slug=slug, signature=f"{slug} here.")
    talk = request_conversation("debate", ["devops", "security"], "disk quotas", source="op")
    run_conversation(talk, random.Random(2), pause=0)

    page = client.get(f"/stage/conversations/{talk.id}").content.decode()
    today = client.get("/stage/conversations").content.decode()

    assert "disk quotas" in page and "[offline]" in page
    assert "on disk quotas" in page or "about disk quotas" in page or "disk quotas" in page
    assert "What it left behind" in page and "devops ↔ security: +0.010" in page
    assert "1 of 5 a day" in today and f"C{talk.id}" in today
    assert client.get("/stage/conversations/999999").status_code == 404


def test_past_the_daily_cap_the_conversations_page_says_what_still_runs(client, db):
    """'7 of 5 a day' read as a broken cap: asked-for conversations run past it, and count."""
    from opscore.actions import set_policy
    from roundtable.lifecycle import request_conversation
    from tests.factories import AgentFactory

    for slug in ("devops", "security"):
        AgentFactory(slug=slug)
    set_policy("roundtable_policy", {"max_daily_conversations": 1}, actor="t", reason="r")
    under = client.get("/stage/conversations").content.decode()
    for _ in range(2):
        request_conversation("debate", ["devops", "security"], "disk quotas", source="op")

    over = client.get("/stage/conversations").content.decode()

    assert "the schedule starts no more today" not in under
    assert "2 of 1 a day" in over and "the schedule starts no more today" in over


def test_while_the_lane_is_paused_the_conversations_page_says_nothing_starts(client, db):
    """It said an asked-for conversation 'still runs' past the cap while the lane's pause held
    every one queued: the page names the pause, and claims nothing runs."""
    from opscore.actions import set_policy
    from opscore.overrides import apply_override
    from roundtable.lifecycle import request_conversation
    from tests.factories import AgentFactory

    for slug in ("devops", "security"):
        AgentFactory(slug=slug)
    set_policy("roundtable_policy", {"max_daily_conversations": 1}, actor="t", reason="r")
    request_conversation("debate", ["devops", "security"], "disk quotas", source="op")
    pause = apply_override("pause-lane", "roundtable", reason="quiet week", actor="t")

    page = client.get("/stage/conversations", headers={"HX-Request": "true"}).content.decode()

    assert f"The roundtable lane is paused</b> by override {pause.id}" in page
    assert "quiet week" in page and "waits queued" in page
    assert "still runs" not in page


def test_the_console_index_opens_with_health_approvals_and_operator_models_first(
    admin_client, agent
):
    propose(agent, "deploy", title="Ship it")

    page = admin_client.get("/admin/").content.decode()

    assert (
        "<title>Site administration | Opscore console</title>" in page or "Opscore console" in page
    )
    assert "Pending approvals: <b>1</b>" in page
    models = ("missions/proposal/", "missions/mission/", "missions/step/", "opscore/agent/")
    order = [page.index(f"/admin/{path}") for path in (*models, "django_q/")]
    assert order == sorted(order)


def test_agent_cards_show_the_day_memories_voice_and_relationships(client, agent, clock):
    clock.midday()  # the step is today's when the card is read
    from roundtable.models import Relationship
    from tests.factories import AgentFactory, make_memories

    for slug in ("research", "security"):
        AgentFactory(slug=slug)
    Relationship.objects.create(agent_a_id="devops", agent_b_id="research", affinity="0.85")
    Relationship.objects.create(agent_a_id="devops", agent_b_id="security", affinity="0.20")
    make_memories(agent, "strategy", 9)
    propose(agent, "noop")
    handle_one_step("w1")

    page = client.get("/stage/agents").content.decode()
    devops = page.split('data-agent="devops"')[1].split("</article>")[0]

    assert "1 step (1 succeeded)" in devops and "9 active" in devops
    assert "research (0.85)" in devops and "security (0.20)" in devops
    assert "You think strategically about long-term plans" in devops
    assert 'class="mood-close"' in page and 'class="mood-tense"' in page


def test_feed_rows_link_to_what_they_are_about_and_delayed_missions_say_when(client, agent):
    propose(agent, "deploy", title="Ship it")
    later = propose(agent, title="Later", steps=[{"kind": "analyze", "delay_seconds": 1800}])

    feed = client.get("/stage/").content.decode()
    missions = client.get("/stage/missions").content.decode()

    assert 'href="/stage/#approvals-panel">decide</a>' in feed
    assert f'href="/stage/missions/{later.mission.id}">M{later.mission.id}</a>' in feed
    assert "runs at" in missions


def test_playback_shows_time_between_moments_and_what_each_step_produced(client, agent):
    mission = propose(agent, "analyze", title="Look into it").mission
    handle_one_step("w1")

    page = client.get(f"/stage/missions/{mission.id}/playback").content.decode()

    assert 'class="gap">+' in page and 'class="artifact"><code>A' in page
    assert client.get("/stage/missions/999999/playback").status_code == 404


def test_idle_agents_queue_three_at_the_coffee_machine_and_the_rest_stay_at_their_desks(db):
    from console.stage.floor import COFFEE_SPOTS
    from console.stage.scenes import office_states
    from opscore.db import db_now
    from tests.factories import AgentFactory

    for n in range(10):
        AgentFactory(slug=f"agent-{n:02d}")

    sprites = office_states(db_now())

    at_coffee = [s for s in sprites if s["tile"] in COFFEE_SPOTS]
    assert len(at_coffee) == 3 and len({(s["x"], s["y"]) for s in sprites}) == 10


@pytest.mark.parametrize(
    "url",
    [
        "/stage/?mission=abc",
        "/stage/?mission=²",  # a digit to str.isdigit(), no number to int()
        "/stage/events?mission=²",
        "/stage/?influenced=maybe",
        "/stage/events?before=x",
        "/stage/swimlane?hours=-1",
        "/stage/missions/0",
        "/stage/conversations/0",
    ],
)
def test_odd_query_strings_get_an_answer_not_a_500(client, db, url):
    assert client.get(url).status_code < 500


def test_the_conversations_page_says_a_dropping_pause_refuses_what_is_asked_for(client):
    """Paused in drop mode, the page said an asked-for conversation 'waits queued': the lane
    refuses it at once, a failed row naming the pause, which never runs after the lift."""
    from opscore.overrides import apply_override

    apply_override("pause-lane", "roundtable:drop", reason="quiet week", actor="t")

    page = client.get("/stage/conversations", headers={"HX-Request": "true"}).content.decode()

    assert "quiet week" in page and "waits queued" not in page
    assert "one asked for through the API is refused (failed, naming the pause)" in page
