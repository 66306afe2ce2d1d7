"""Goals above missions: a target in the ledger's own numbers, measured from the rows as time
passes, versioned like a policy, and judged met or not when closed."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.db.models.functions import Now

from missions.goal_schemas import GoalInvalid
from missions.goals import add_goal, close_goal, current_value, revise_goal, snapshot_goals
from missions.models import Goal, GoalVersion, Mission
from opscore.models import Event
from tests.factories import propose

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def goal_terms(**changes):
    terms = {
        "title": "Ship ten analyses",
        "why": "Customers asked for weekly reports",
        "metric": "missions_succeeded",
        "scope": "goal",
        "target": 3,
        "owner": "devops",
        "deadline": "30d",
    }
    return terms | changes


def succeed(proposal):
    mission = Mission.objects.get(proposal=proposal)
    Mission.objects.filter(pk=mission.pk).update(status="succeeded", finished_at=Now())
    return mission


def test_it_measures_progress_from_seeded_missions_as_the_clock_moves(agent, clock):
    clock.freeze(T0)
    goal = add_goal(goal_terms(), actor="operator:test")
    assert snapshot_goals() == {"snapshots": 1}

    clock.freeze(T0 + timedelta(hours=2))
    succeed(propose(agent, "noop", goal=goal.id, title="First"))
    succeed(propose(agent, "noop", title="Serves no goal"))  # scope goal: not counted
    assert snapshot_goals() == {"snapshots": 1}
    assert snapshot_goals() == {"snapshots": 0}  # sampled at most once an hour

    clock.freeze(T0 + timedelta(days=3))
    succeed(propose(agent, "noop", goal=goal.id, title="Second"))
    snapshot_goals()

    points = list(goal.snapshots.values_list("taken_at", "value"))
    assert points == [(T0, 0.0), (T0 + timedelta(hours=2), 1.0), (T0 + timedelta(days=3), 2.0)]
    clock.freeze(T0 + timedelta(days=4))
    company = add_goal(goal_terms(scope="company", title="Company-wide"), actor="operator:test")
    assert current_value(company) == 0  # counted from its own start
    clock.freeze(T0 + timedelta(days=5))
    succeed(propose(agent, "noop", title="Serves no goal either"))
    assert (current_value(company), current_value(goal)) == (1, 2)
    assert Mission.objects.filter(proposal__goal=goal).count() == 2


def test_closing_judges_met_or_not_and_counts_only_up_to_the_deadline(agent, clock):
    clock.freeze(T0)
    reach = add_goal(goal_terms(target=1, deadline="2d"), actor="operator:test")
    cap = add_goal(
        goal_terms(title="Few failures", metric="missions_failed", direction="at_most", target=0),
        actor="operator:test",
    )
    clock.freeze(T0 + timedelta(days=1))
    succeed(propose(agent, "noop", goal=reach.id))
    late = propose(agent, "noop", goal=reach.id)
    clock.freeze(T0 + timedelta(days=5))
    succeed(late)  # finished after the deadline: not counted

    reach = close_goal(reach.id, actor="operator:test", reason="quarter over")
    cap = close_goal(cap.id, actor="operator:test", reason="quarter over")

    assert (reach.met, reach.final_value, reach.status) == (True, 1.0, "closed")
    assert (cap.met, cap.final_value) == (True, 0.0)
    closed = Event.objects.get(kind="goal.closed", payload__goal_id=reach.id)
    assert closed.payload["met"] is True and closed.summary == "quarter over"
    with pytest.raises(GoalInvalid, match="already closed"):
        close_goal(reach.id, actor="operator:test", reason="again")


def test_a_revision_is_a_new_version_and_versions_are_never_edited(agent, clock):
    clock.freeze(T0)
    goal = add_goal(goal_terms(), actor="operator:test")
    goal = revise_goal(goal.id, {"target": 5}, actor="operator:test", reason="more demand")

    assert goal.version == 2
    assert list(goal.versions.values_list("version", "reason")) == [
        (2, "more demand"),
        (1, "added"),
    ]
    latest = goal.versions.first()
    assert (latest.old_value["target"], latest.new_value["target"]) == (3.0, 5.0)
    with pytest.raises(DatabaseError), transaction.atomic():
        GoalVersion.objects.filter(pk=latest.pk).update(reason="rewritten")
    with pytest.raises(GoalInvalid, match="reason"):
        revise_goal(goal.id, {"target": 6}, actor="operator:test", reason=" ")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"title": ""}, "title", "at least 1"),
        ({"metric": "happiness"}, "metric", "unknown metric 'happiness'; known: missions_"),
        ({"deadline": "2020-01-01"}, "deadline", "already past"),
        ({"deadline": "soon"}, "deadline", "give a span"),
        ({"deadline": "99999999d"}, "deadline", "at most two years ahead"),  # was "give a span"
        ({"deadline": "999999w"}, "deadline", "at most two years ahead"),  # past year 9999
        ({"deadline": "\uff13d"}, "deadline", "give a span"),  # a full-width 3 was read as 3
        ({"target": -1}, "target", "greater than or equal to 0"),
        ({"target": "NaN"}, "target", "finite"),
        ({"target": "\uff15"}, "target", "digits 0-9"),  # float() read a full-width 5 as 5
        ({"target": "1_000"}, "target", "digits 0-9"),
        ({"owner": "nobody"}, "owner", "unknown agent 'nobody'"),
        ({"direction": "sideways"}, "direction", "at_least"),
    ],
)
def test_bad_goal_input_is_refused_naming_the_field(agent, changes, field, message):
    with pytest.raises(GoalInvalid) as refused:
        add_goal(goal_terms(**changes), actor="operator:test")
    assert message in " ".join(refused.value.errors[field])
    assert not Goal.objects.exists()


def test_every_bad_field_is_named_at_once_and_the_cli_exits_2_with_or_without_json(agent):
    bad = {"title": "x" * 201, "deadline": "2020-01-01", "owner": "nobody", "target": -1}
    with pytest.raises(GoalInvalid) as refused:
        add_goal(goal_terms(**bad), actor="operator:test")
    assert sorted(refused.value.errors) == ["deadline", "owner", "target", "title"]

    with pytest.raises(CommandError) as said:
        call_command("goal", "add", "--title", "x" * 201, "--metric", "vibes", "--target",
                     "1", "--owner", "nobody", "--deadline", "2020-01-01")  # fmt: skip
    assert said.value.returncode == 2
    for field in ("title", "metric", "owner", "deadline"):
        assert f"\n  {field}: " in str(said.value)
    assert not Goal.objects.exists()


def test_the_cli_adds_lists_shows_and_closes_goals(agent, capsys):
    out = io.StringIO()
    call_command(
        "goal", "add", "--title", "Publish more", "--metric", "publications", "--target", "4",
        "--owner", "devops", "--deadline", "12w", "--json", stdout=out,
    )  # fmt: skip
    added = json.loads(out.getvalue())
    assert (added["version"], added["value"], added["progress"]) == (1, 0.0, 0.0)

    out = io.StringIO()
    call_command("goal", "list", stdout=out)
    assert f"G{added['id']} v1 [active] Publish more: publications 0 / 4" in out.getvalue()
    call_command("goal", "close", str(added["id"]), "--reason", "dropped", stdout=out)
    assert "(at_least, not met)" in out.getvalue()

    with pytest.raises(SystemExit) as exit_code:
        call_command("goal", "--json", "add", "--title", "T", "--metric", "vibes", "--target",
                     "1", "--owner", "devops", "--deadline", "3d")  # fmt: skip
    assert exit_code.value.code == 2
    refused = json.loads(capsys.readouterr().out)
    assert "unknown metric 'vibes'" in refused["errors"]["metric"][0]


def test_the_intake_records_the_goal_served_and_refuses_a_closed_or_missing_one(agent, clock):
    from missions.schemas import ProposalInvalid

    clock.freeze(T0)
    goal = add_goal(goal_terms(), actor="operator:test")
    served = propose(agent, "noop", goal=goal.id)
    assert served.goal_id == goal.id
    accepted = Event.objects.get(kind="proposal.accepted", proposal=served)
    assert accepted.payload["goal_id"] == goal.id

    close_goal(goal.id, actor="operator:test", reason="done")
    with pytest.raises(ProposalInvalid, match="closed"):
        propose(agent, "noop", goal=goal.id)
    with pytest.raises(ProposalInvalid, match="no goal 999"):
        propose(agent, "noop", goal=999)
    with pytest.raises(ProposalInvalid, match="goal"):
        propose(agent, "noop", goal="7")


def test_propose_names_the_goal_served_from_the_cli(agent):
    goal = add_goal(goal_terms(), actor="operator:test")
    out = io.StringIO()

    call_command("propose", "--agent", "devops", "--title", "Report", "--step", "noop",
                 "--goal", str(goal.id), "--json", stdout=out)  # fmt: skip

    assert Mission.objects.get(proposal_id=json.loads(out.getvalue())["id"]).proposal.goal == goal


def test_a_deadline_given_in_another_zone_reads_the_same_everywhere(agent, clock):
    clock.freeze(T0)
    added, listed = io.StringIO(), io.StringIO()
    call_command("goal", "add", "--title", "Late in New York", "--metric", "publications",
                 "--target", "4", "--owner", "devops", "--deadline", "2027-03-31T23:00-05:00",
                 stdout=added)  # fmt: skip
    call_command("goal", "list", stdout=listed)
    goal = Goal.objects.get()
    revise_goal(goal.id, {"target": 5}, actor="operator:test", reason="more")

    assert "due 2027-04-01" in added.getvalue() and "due 2027-04-01" in listed.getvalue()
    first, second = goal.versions.order_by("version")
    assert first.new_value["deadline_at"] == second.old_value["deadline_at"]
    assert first.new_value["deadline_at"] == "2027-04-01T04:00:00+00:00"
    for edge, said in [("0001-01-01T00:00+01:00", "already past"), ("9999-12-31T23:59-05:00",
                       "at most two years")]:  # fmt: skip
        with pytest.raises(GoalInvalid, match=said):
            add_goal(goal_terms(deadline=edge), actor="operator:test")


def test_a_spend_goal_counts_what_a_live_replay_spent(agent, clock):
    """A live replay's calls leave no LLMCall row (rolled back) but were paid for: status and
    the budget count them, and so does a company-wide spend goal."""
    from decimal import Decimal

    from opscore.models import ReplayRun

    clock.freeze(T0)
    cap = {"metric": "llm_spend_usd", "direction": "at_most", "target": 2}
    company = add_goal(goal_terms(scope="company") | cap, actor="operator:test")
    served = add_goal(goal_terms(title="Goal work only") | cap, actor="operator:test")
    clock.freeze(T0 + timedelta(hours=1))
    ReplayRun.objects.create(
        subject="mission", subject_id=1, mode="live", outcome="identical", cost_usd=Decimal("2.5")
    )

    assert (current_value(company), current_value(served)) == (2.5, 0)
    company = close_goal(company.id, actor="operator:test", reason="month over")
    assert (company.final_value, company.met) == (2.5, False)


def test_revising_a_goal_past_its_deadline_says_its_deadline_passed(agent, clock):
    clock.freeze(T0)
    goal = add_goal(goal_terms(deadline="2d"), actor="operator:test")
    clock.freeze(T0 + timedelta(days=5))

    with pytest.raises(CommandError) as refused:
        call_command("goal", "revise", str(goal.id), "--title", "Ship three", "--reason", "typo")

    assert refused.value.returncode == 2
    assert (
        f"deadline: G{goal.id}'s deadline (2027-01-06 09:00 UTC) has passed: revise it with a "
        "new one, or close it"
    ) in str(refused.value)
    revise_goal(goal.id, {"deadline": "30d"}, actor="operator:test", reason="extended")
    assert Goal.objects.get().version == 2


def test_a_deadline_given_as_a_date_lasts_to_the_end_of_that_day_in_ops_time_zone(
    agent, clock, settings
):
    """At 21:00 on 31 March in New York (01:00 UTC on 1 April) a goal due "2027-03-31" still has
    three hours to go: ended at midnight UTC it was refused as already past, and any such goal
    stopped counting at 19:00 or 20:00 on its last day."""
    settings.TIME_ZONE = "America/New_York"
    clock.freeze(datetime(2027, 4, 1, 1, 0, tzinfo=UTC))

    goal = add_goal(goal_terms(deadline="2027-03-31"), actor="operator:test")

    assert goal.deadline_at == datetime(2027, 4, 1, 3, 59, 59, 999999, tzinfo=UTC)


def test_a_revision_that_changes_nothing_keeps_its_reason_as_a_row(agent, clock):
    """A retried or mistaken revise is no new version, but the reason given for it is not
    dropped: the goal's events say it was asked for and changed nothing."""
    clock.freeze(T0)
    goal = add_goal(goal_terms(), actor="operator:test")

    same = revise_goal(goal.id, {"target": goal.target}, actor="operator:ann", reason="retry")

    assert same.version == 1 and GoalVersion.objects.filter(goal=goal).count() == 1
    unchanged = Event.objects.get(kind="goal.unchanged")
    assert (unchanged.actor, unchanged.summary) == ("operator:ann", "retry")


def test_the_cli_says_a_revision_changed_nothing(agent, clock):
    """`goal revise` with the terms already in force printed the goal as after any revision:
    nothing said no new version was made, though the reason was kept as a row."""
    clock.freeze(T0)
    goal = add_goal(goal_terms(), actor="operator:test")
    text, as_json = io.StringIO(), io.StringIO()

    target = str(goal.target)
    call_command(
        "goal", "revise", str(goal.id), "--target", target, "--reason", "retry", stdout=text
    )
    call_command("goal", "--json", "revise", str(goal.id), "--reason", "again", stdout=as_json)

    said = text.getvalue().splitlines()
    assert said[-1] == f"unchanged: G{goal.id} v1 already has these terms (the reason is kept)"
    shown = json.loads(as_json.getvalue())
    assert shown["unchanged"] is True and shown["version"] == 1
