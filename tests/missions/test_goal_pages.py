"""What a goal shows means what it says: the Stage's progress line spans every snapshot from
its start, however many the heartbeat has taken; an allowance overspent or a deadline passed
is said as such on the Stage, the CLI and the digest, never "not yet"."""

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models.functions import Now

from console.order_handlers import goal_lines
from missions.goals import add_goal, goal_state
from missions.models import GoalSnapshot, Mission
from tests.factories import propose

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
TERMS = {"title": "Ship analyses", "metric": "missions_succeeded", "target": 40, "owner": "devops"}


def polyline(page: str) -> list[tuple[float, float]]:
    points = re.search(r'<polyline class="measured" points="([^"]+)"', page)[1]
    return [tuple(map(float, p.split(","))) for p in points.split()]


def test_the_progress_line_starts_at_the_goals_start_after_weeks_of_hourly_snapshots(
    client, agent, clock
):
    clock.freeze(T0)
    goal = add_goal(TERMS | {"deadline": "30d"}, actor="operator:test")
    hours = 24 * 20  # twenty days of the heartbeat's hourly samples
    GoalSnapshot.objects.bulk_create(
        GoalSnapshot(goal=goal, value=h / 12, taken_at=T0 + timedelta(hours=h))
        for h in range(hours)
    )
    clock.freeze(T0 + timedelta(hours=hours))

    line = polyline(client.get(f"/stage/goals/{goal.id}").content.decode())

    first, last = line[0], line[-1]
    assert first[0] == 8.0  # the goal's start, the chart's left edge (its padding)
    assert last[0] == pytest.approx(8 + 584 * (hours - 1) / (24 * 30), abs=0.1)  # the latest
    assert [x for x, _ in line] == sorted(x for x, _ in line)
    assert len(line) <= 200


def fail_one(agent):
    proposal = propose(agent, "noop", title="Broke")
    Mission.objects.filter(proposal=proposal).update(status="failed", finished_at=Now())


def everywhere(client, goal) -> dict:
    out = io.StringIO()
    call_command("goal", "list", stdout=out)
    stage = client.get("/stage/goals").content.decode()
    card = stage[stage.index(f'id="goal-{goal.id}"') :]
    return {
        "digest": next(line for line in goal_lines() if line.startswith(f"- G{goal.id} ")),
        "stage": card[: card.index("</article>")],
        "page": client.get(f"/stage/goals/{goal.id}").content.decode(),
        "cli": out.getvalue(),
    }


def test_an_allowance_overspent_is_said_over_the_limit_not_not_yet(client, agent, clock):
    clock.freeze(T0)
    cap = {"metric": "missions_failed", "direction": "at_most", "target": 0}
    goal = add_goal(TERMS | cap | {"deadline": "30d"}, actor="operator:test")
    fail_one(agent)

    shown = everywhere(client, goal)

    assert "not yet" not in shown["digest"]
    for where in shown.values():
        assert "over the limit" in where
    assert goal_state(goal)["verdict"] == "over the limit"


def test_an_active_goal_past_its_deadline_says_so_everywhere(client, agent, clock):
    clock.freeze(T0)
    goal = add_goal(TERMS | {"deadline": "2d"}, actor="operator:test")
    clock.freeze(T0 + timedelta(days=5))

    shown = everywhere(client, goal)

    assert "not yet" not in shown["digest"]
    for where in shown.values():
        assert "deadline passed" in where
    running = add_goal(TERMS | {"deadline": "30d"}, actor="operator:test")
    assert goal_state(running)["verdict"] == "not yet"


def test_a_list_cut_short_says_how_many_goals_it_left_out(client, agent, settings, monkeypatch):
    import console.order_handlers
    import console.stage.goals_page
    import missions.goals

    for n in range(4):
        add_goal(TERMS | {"title": f"Goal {n}", "deadline": f"{30 + n}d"}, actor="operator:test")
    monkeypatch.setattr(missions.goals, "LISTED", 3)  # the CLI's and the API's 200, made small
    monkeypatch.setattr(console.stage.goals_page, "LISTED", 2)  # the Stage's 100
    monkeypatch.setattr(console.order_handlers, "DIGEST_GOALS", 3)  # the digest's 20
    settings.OPS_API_TOKEN = "test-token-0123456789-0123456789"

    out = io.StringIO()
    call_command("goal", "list", stdout=out)
    assert "The first 3 of 4 goals" in out.getvalue()
    out = io.StringIO()
    call_command("goal", "list", "--json", stdout=out)
    assert json.loads(out.getvalue())["total"] == 4
    assert client.get("/api/ops/goals").json()["total"] == 4
    assert "The first 2 of 4 goals" in client.get("/stage/goals").content.decode()
    assert goal_lines()[-1] == "- and 1 more active goal (goal list shows them all)"


def test_a_revised_metric_draws_only_what_was_measured_in_it(client, agent, clock):
    """Dollars drawn on a line of publications mean nothing: the points taken before the
    metric changed are left out of the line, the table and goal show, and the page says so."""
    from missions.goals import goal_detail, revise_goal, snapshot_goals

    clock.freeze(T0)
    spend = {"metric": "llm_spend_usd", "direction": "at_most", "target": 500}
    goal = add_goal(TERMS | spend | {"deadline": "30d"}, actor="operator:test")
    GoalSnapshot.objects.create(goal=goal, value=321.5)
    clock.freeze(T0 + timedelta(days=2))
    goal = revise_goal(goal.id, {"metric": "publications", "direction": "at_least", "target": 8},
                       actor="operator:test", reason="measure output, not cost")  # fmt: skip
    clock.freeze(T0 + timedelta(days=2, hours=1))
    snapshot_goals()

    page = client.get(f"/stage/goals/{goal.id}").content.decode()

    assert len(polyline(page)) == 1
    assert "321.5" not in page
    assert "measured as publications since v2" in page
    assert [s["value"] for s in goal_detail(goal)["snapshots"]] == [0.0]


def test_the_admins_goal_list_says_where_each_goal_stands(admin_client, agent):
    cap = {"metric": "missions_failed", "direction": "at_most", "target": 0}
    add_goal(TERMS | cap | {"deadline": "30d"}, actor="operator:test")
    fail_one(agent)

    listing = admin_client.get("/admin/missions/goal/").content.decode()

    assert "1 (100%, over the limit)" in listing
