"""Scout calibration: what each scout's opportunity scores predicted against what happened,
fed back, bounded and recorded, as the scout's weight in triage."""

import json
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.urls import reverse

from missions.models import Mission
from opportunities.calibration import calibration_table, recalibrate_scouts
from opportunities.curation import weekly_bets_review
from opportunities.models import Opportunity, OpportunityReview, ScoutWeight
from tests.factories import AgentFactory, make_publication


def opportunity(scout, impact, *, status="new", title="An opening"):
    return Opportunity.objects.create(
        source_agent=scout,
        theme="growth",
        title=title,
        why_now="now",
        impact=impact,
        confidence=impact,
        urgency=impact,
        reversibility="high",
        suggested_next_step="try it",
        status=status,
    )


@pytest.fixture
def scouts(db):
    """An overconfident scout (top scores, all turned down) and a modest one (low scores,
    all accepted), six decided items each."""
    loud, modest = AgentFactory(slug="loud"), AgentFactory(slug="modest")
    for _ in range(6):
        opportunity(loud, 5, status="rejected")
        opportunity(modest, 2, status="accepted")
    return loud, modest


def test_the_table_shows_predicted_scores_against_outcomes_per_scout(scouts):
    table = calibration_table()

    loud, modest = table["loud"]["overall"], table["modest"]["overall"]
    assert (loud["decided"], loud["acceptance_rate"], loud["predicted"]) == (6, 0.0, 1.0)
    assert (modest["decided"], modest["acceptance_rate"]) == (6, 1.0)
    assert list(table["loud"]["bands"]) == ["0.75-1.00"]
    assert list(table["modest"]["bands"]) == ["0.25-0.50"]


def test_a_converted_opportunity_counts_its_mission_and_measured_effect(scouts):
    loud, _ = scouts
    post = make_publication(loud, "launch", impressions=1000, engagements=50)
    Mission.objects.filter(pk=post.step.mission_id).update(status="succeeded")
    opportunity(loud, 3, status="new", title="converted one")
    Opportunity.objects.filter(title="converted one").update(
        status="converted", proposal=post.step.mission.proposal
    )

    band = calibration_table()["loud"]["bands"]["0.50-0.75"]

    assert (band["converted"], band["succeeded"], band["measured"]) == (1, 1, 1)
    assert band["mean_effect"] == 0.05


def test_the_weight_moves_a_bounded_step_each_time_and_every_move_is_a_row(scouts):
    first = {w.scout_id: w.weight for w in recalibrate_scouts(actor="test")}
    second = {w.scout_id: w.weight for w in recalibrate_scouts(actor="test")}
    third = recalibrate_scouts(actor="test")

    assert first == {"loud": 0.75, "modest": 1.25}
    assert second == {"loud": 0.5, "modest": 1.5}
    assert third == []  # at the bounds: nothing more to record
    assert ScoutWeight.objects.current() == {"loud": 0.5, "modest": 1.5}
    row = ScoutWeight.objects.filter(scout="loud").first()
    assert "accepted 0% of 6 decided vs 100% predicted" in row.reason
    assert row.evidence["decided"] == 6


def test_too_few_decided_items_leave_the_weight_alone(db):
    quiet = AgentFactory(slug="quiet")
    for _ in range(4):
        opportunity(quiet, 5, status="rejected")

    assert recalibrate_scouts(actor="test") == []
    assert ScoutWeight.objects.current() == {}


def test_the_weekly_review_ranks_by_the_calibrated_weight(scouts):
    loud, modest = scouts
    loud_bet = opportunity(loud, 3, title="loud bet")  # 14.5 x 0.75
    modest_bet = opportunity(modest, 3, title="modest bet")  # 14.5 x 1.25

    weekly_bets_review(SimpleNamespace(agent_id="coordinator"), None, top=1, weak=9.0)

    assert Opportunity.objects.get(pk=modest_bet.pk).status == "accepted"
    assert Opportunity.objects.get(pk=loud_bet.pk).status == "parked"
    notes = OpportunityReview.objects.get(opportunity=loud_bet).notes
    assert "score 14.5 x scout weight 0.75 = 10.88" in notes


def test_the_cli_shows_the_table_and_applies_the_weights(scouts, capsys):
    call_command("calibration", "show", "--json")
    shown = json.loads(capsys.readouterr().out)
    call_command("calibration", "apply")
    applied = capsys.readouterr().out

    assert shown["loud"]["weight"] == 1.0 and shown["loud"]["overall"]["decided"] == 6
    assert "loud: accepted 0% of 6 decided" in applied
    assert ScoutWeight.objects.current()["loud"] == 0.75


def test_the_admin_shows_each_scouts_calibration(scouts, admin_client):
    recalibrate_scouts(actor="test")

    page = admin_client.get(reverse("admin:opportunities_scoutweight_changelist"))

    assert page.status_code == 200
    assert b"loud" in page.content and b"weight in triage 0.75" in page.content


def test_items_nobody_has_decided_yet_neither_raise_nor_lower_the_prediction_judged(db):
    steady = AgentFactory(slug="steady")
    for status in ["accepted", "rejected"] * 3:  # half taken, as its middling scores said
        opportunity(steady, 3, status=status)
    for _ in range(10):  # fresh, top-scored, not looked at yet
        opportunity(steady, 5, status="new")

    (moved,) = recalibrate_scouts(actor="test")

    assert moved.weight == 0.95  # 50% accepted against 53% predicted for those 6
    assert "accepted 50% of 6 decided vs 53% predicted" in moved.reason


def test_a_scout_whose_lowest_scored_items_were_all_turned_down_gains_no_weight(db):
    """Scores at the floor predict no acceptance, and none came: nothing to scale by. Taken as
    accepted-with-no-prediction, every such scout was raised toward the ceiling."""
    floor = AgentFactory(slug="floor")
    for _ in range(6):
        opportunity(floor, 1, status="rejected")
    Opportunity.objects.filter(source_agent=floor).update(reversibility="low")  # score 4.5

    assert recalibrate_scouts(actor="test") == []
    assert ScoutWeight.objects.current() == {}
