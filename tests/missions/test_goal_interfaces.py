"""Goals and feedback from every interface: the API, the admin, the Stage, the daily digest,
opportunities and initiative — the same functions, refusals as field errors, never a 500."""

import json

import pytest
from django.utils import timezone

from console.bootstrap import bootstrap
from missions.goals import add_goal, close_goal, snapshot_goals
from missions.models import Artifact, Feedback, Goal, GoalVersion, Mission, Proposal
from opscore.models import Event, StandingOrder
from tests.factories import make_step, propose, run_order_now

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
TERMS = {"title": "Ship analyses", "metric": "missions_succeeded", "target": 2, "owner": "devops"}


def post(client, path, body, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def goal(agent):
    return add_goal(TERMS | {"scope": "goal", "deadline": "30d"}, actor="operator:test")


def test_the_api_adds_shows_revises_and_closes_a_goal(client, agent, settings):
    settings.OPS_API_TOKEN = TOKEN

    made = post(client, "/api/ops/goals", TERMS | {"deadline": "30d", "actor": "ana"})
    assert made.status_code == 201
    goal_id = made.json()["id"]
    assert post(client, "/api/ops/goals", TERMS | {"deadline": "1d"}, token="").status_code == 401
    revised = post(client, f"/api/ops/goals/{goal_id}/revise", {"target": 4, "reason": "more"})
    assert (revised.status_code, revised.json()["version"]) == (200, 2)
    shown = client.get(f"/api/ops/goals/{goal_id}").json()
    assert [v["reason"] for v in shown["versions"]] == ["more", "added"]
    closed = post(client, f"/api/ops/goals/{goal_id}/close", {"reason": "quarter over"})
    assert (closed.json()["status"], closed.json()["met"]) == ("closed", False)
    assert [g["id"] for g in client.get("/api/ops/goals").json()["goals"]] == [goal_id]
    assert GoalVersion.objects.get(goal_id=goal_id, version=1).changed_by == "api:ana"


def test_the_api_says_a_revision_changed_nothing_as_the_cli_does(client, goal, settings):
    """A revision asking for the terms in force answered 200 with the goal as after any
    revision, while `goal revise --json` says "unchanged": the caller thought it had a v2."""
    settings.OPS_API_TOKEN = TOKEN
    path = f"/api/ops/goals/{goal.id}/revise"

    same = post(client, path, {"target": goal.target, "reason": "retry"}).json()
    changed = post(client, path, {"target": goal.target + 1, "reason": "more"}).json()

    assert (same["unchanged"], same["version"]) == (True, 1)
    assert (changed["unchanged"], changed["version"]) == (False, 2)


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/ops/goals", TERMS | {"deadline": "2001-01-01"}, 400, "deadline"),
        ("/api/ops/goals", TERMS | {"deadline": "3d", "title": "t" * 201}, 400, "title"),
        ("/api/ops/goals", TERMS | {"deadline": "3d", "metric": "joy"}, 400, "metric"),
        ("/api/ops/goals", TERMS | {"deadline": "3d", "target": [1]}, 400, "target"),
        ("/api/ops/goals", TERMS | {"deadline": "3d", "colour": "red"}, 400, "colour"),
        ("/api/ops/goals/999/close", {"reason": "x"}, 404, "goal"),
        ("/api/ops/goals/999/revise", {"reason": "x", "target": 1}, 404, "goal"),
        ("/api/ops/feedback", {"mission": 999, "rating": "useful", "reason": "x"}, 400, "mission"),
        ("/api/ops/feedback", {"mission": 1, "rating": "great", "reason": "x"}, 400, "rating"),
        ("/api/ops/feedback", {"mission": "1", "rating": "useful", "reason": "x"}, 400, "mission"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, agent, settings, path, body, status, field):
    settings.OPS_API_TOKEN = TOKEN

    answer = post(client, path, body)

    assert answer.status_code == status
    assert field in answer.json()["errors"]
    assert not Goal.objects.exists() and not Feedback.objects.exists()


def test_the_api_takes_feedback_on_a_mission(client, agent, settings):
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("noop", agent=agent, status="succeeded")

    rating = {"mission": step.mission_id, "rating": "useful", "reason": "saved a day"}
    answer = post(client, "/api/ops/feedback", rating | {"actor": "ana"})

    assert answer.status_code == 201
    assert Feedback.objects.get().given_by == "api:ana"


def test_the_stage_shows_progress_and_the_missions_under_a_goal(client, agent, goal):
    proposal = propose(agent, "noop", goal=goal.id, title="Weekly report")
    Mission.objects.filter(proposal=proposal).update(status="succeeded")
    snapshot_goals()

    listing = client.get("/stage/goals").content.decode()
    page = client.get(f"/stage/goals/{goal.id}").content.decode()

    assert f"G{goal.id}</code> Ship analyses" in listing
    assert "<polyline" in page
    assert "Weekly report" in page and "v1" in page
    assert client.get("/stage/goals/999").status_code == 404


def test_the_admin_adds_revises_with_a_reason_and_closes_goals(admin_client, agent):
    form = TERMS | {"scope": "company", "direction": "at_least", "deadline": "30d", "why": ""}
    made = admin_client.post("/admin/missions/goal/add/", form)
    assert made.status_code == 302, made.content.decode()[:2000]
    goal = Goal.objects.get()

    no_reason = admin_client.post(f"/admin/missions/goal/{goal.id}/change/", form | {"target": 5})
    assert "a revision needs a reason" in no_reason.content.decode()
    bad = admin_client.post("/admin/missions/goal/add/", form | {"deadline": "2001-01-01"})
    assert "already past" in bad.content.decode()
    admin_client.post(
        f"/admin/missions/goal/{goal.id}/change/",
        form | {"target": 5, "reason": "stretch", "seen_version": 1},
    )
    url = "/admin/missions/goal/"
    chosen = {"_selected_action": [goal.id], "action": "close_goals"}
    admin_client.post(url, chosen | {"apply": "1", "reason": "done"})

    goal.refresh_from_db()
    assert (goal.version, goal.target, goal.status, goal.met) == (2, 5.0, "closed", False)
    assert admin_client.get(url).status_code == 200


def test_the_daily_digest_reports_progress_per_goal(agent, goal):
    bootstrap(1, actor="test")
    propose(agent, "noop", goal=goal.id)

    run = run_order_now(StandingOrder.objects.get(name="publisher-daily-digest"))

    body = Artifact.objects.get(pk=run.evidence["artifact_id"]).body
    assert f"- G{goal.id} Ship analyses: missions_succeeded 0 of 2" in body


def opportunity_for(goal):
    from opportunities.actions import propose_opportunity
    from opscore.actions import record_event

    event = record_event("step.failed", "reports late", agent=goal.owner)
    data = {
        "source_agent": "devops", "theme": "reports", "title": "Automate reports",
        "why_now": "late twice", "evidence": [{"type": "event", "id": event.id}], "impact": 3,
        "confidence": 3, "urgency": 2, "reversibility": "high", "owner_candidate": "devops",
        "suggested_next_step": "script it", "goal": goal.id,
    }  # fmt: skip
    return propose_opportunity(data).opportunity


def test_an_opportunity_names_its_goal_and_its_proposal_serves_it(agent, goal):
    from opportunities.actions import convert_opportunity

    opportunity = opportunity_for(goal)
    convert_opportunity(opportunity, converted_by="operator:test", target_agent="devops")

    assert opportunity.goal_id == goal.id
    assert Proposal.objects.get(source="opportunity").goal_id == goal.id


def test_a_goal_closed_before_the_conversion_is_not_carried_and_that_is_said(agent, goal):
    from opportunities.actions import convert_opportunity

    opportunity = opportunity_for(goal)
    close_goal(goal.id, actor="operator:ann", reason="the plan changed")

    convert_opportunity(opportunity, converted_by="operator:test", target_agent="devops")

    proposal = Proposal.objects.get(source="opportunity")
    assert proposal.goal_id is None
    said = proposal.context["goal_not_carried"]
    assert said["goal"] == goal.id
    assert said["why"].startswith(f"goal G{goal.id} not carried: it was closed ")
    assert said["why"].endswith(" UTC by operator:ann: the plan changed")
    assert Event.objects.filter(proposal=proposal, payload__goal_not_carried=said).exists()
    review = opportunity.reviews.get(decision="converted")
    assert review.notes == f"proposal P{proposal.id} {proposal.status}; {said['why']}"


def test_a_goal_past_its_deadline_is_not_carried_to_the_converted_proposal(agent, goal, clock):
    from datetime import timedelta

    from opportunities.actions import convert_opportunity
    from opscore.db import db_now

    clock.freeze(db_now())
    opportunity = opportunity_for(goal)
    clock.freeze(goal.deadline_at + timedelta(days=1))

    convert_opportunity(opportunity, converted_by="operator:test", target_agent="devops")

    proposal = Proposal.objects.get(source="opportunity")
    assert proposal.goal_id is None and proposal.status == "accepted"
    said = proposal.context["goal_not_carried"]["why"]
    passed_on = timezone.localdate(goal.deadline_at)  # the day in OPS_TIME_ZONE, as everywhere
    assert said == f"goal G{goal.id} not carried: its deadline passed on {passed_on:%F}"


@pytest.mark.parametrize("deadline", [None, 30, ["30d"]])
def test_a_deadline_not_text_is_one_error_on_the_deadline(client, agent, settings, deadline):
    settings.OPS_API_TOKEN = TOKEN

    answer = post(client, "/api/ops/goals", TERMS | {"deadline": deadline})

    assert answer.status_code == 400
    assert answer.json()["errors"] == {
        "deadline": ["a span (36h, 30d, 12w), a date (2027-03-31) or a time with its zone"]
    }


def test_the_api_and_the_admin_say_a_revision_changed_nothing(client, admin_client, goal, settings):
    """As `goal revise` says it: a retried API call or a form saved with a reason alone answered
    as a revision (the admin: 'was changed successfully'), though no version was made."""
    settings.OPS_API_TOKEN = TOKEN
    same = {"target": goal.target, "reason": "retry"}

    retried = post(client, f"/api/ops/goals/{goal.id}/revise", same)
    revised = post(client, f"/api/ops/goals/{goal.id}/revise", same | {"target": 9})
    form = TERMS | {"target": 9, "owner": goal.owner_id, "scope": "goal", "why": ""}
    form |= {"direction": "at_least", "deadline": goal.deadline_at.isoformat(), "reason": "again"}
    form |= {"seen_version": 2}
    saved = admin_client.post(f"/admin/missions/goal/{goal.id}/change/", form, follow=True)

    assert (retried.json()["version"], retried.json()["unchanged"]) == (1, True)
    assert (revised.json()["version"], revised.json()["unchanged"]) == (2, False)
    shown = saved.content.decode()
    assert f"Unchanged: G{goal.id} v2 already has these terms (the reason is kept)" in shown
    assert "was changed successfully" not in shown


def test_a_title_on_several_lines_is_kept_as_one(agent):
    """`goal list` prints a line per goal and the owner's initiative prompt one line for its
    goal: a title's line break printed a second 'goal' under it (and a line of the prompt's
    own), so a title is one line, as a conversation's topic is."""
    terms = TERMS | {"deadline": "30d", "title": "Ship\nG9 v1 [active] Fake: 9 / 9 (on target)"}

    goal = add_goal(terms, actor="operator:test")

    assert goal.title == "Ship G9 v1 [active] Fake: 9 / 9 (on target)"


def test_goal_show_prints_a_why_and_reasons_so_they_cannot_pass_for_its_lines(agent, capsys):
    """`why` and a revision's reason keep their line breaks (and a carriage return): printed
    raw, they wrote a goal line of their own under the real one."""
    from django.core.management import call_command

    from missions.goals import revise_goal

    forged = "readers asked\r\nG99 v1 [active] Forged: publications 12 / 1 (at_least, met)"
    made = add_goal(TERMS | {"deadline": "30d", "why": forged}, actor="operator:test")
    revise_goal(made.id, {"target": 3}, actor="operator:test", reason=f"more\r{forged}")

    call_command("goal", "show", str(made.id))

    out = capsys.readouterr().out
    assert "Forged" in out and "\r" not in out.replace("\r\n", "\n")
    assert not any(line.startswith("G99") for line in out.splitlines())
