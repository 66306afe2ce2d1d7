import pytest
from django.core.management import CommandError, call_command

from console.bootstrap import BootstrapError, bootstrap
from missions.models import TriggerRule
from opscore.actions import set_policy
from opscore.models import Agent, Event, Policy, PolicyVersion, StandingOrder
from opscore.policies import SCHEMAS, PolicyError

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        list(Agent.objects.values_list("slug", "enabled")),
        list(Policy.objects.values_list("key", "version")),
        Event.objects.count(),
        PolicyVersion.objects.count(),
    )


def test_phase_one_creates_ops_ten_and_enables_the_pilot_four():
    report = bootstrap(1, actor="test")

    assert len(report.agents_created) == 10
    assert set(Agent.objects.enabled().values_list("slug", flat=True)) == {
        "coordinator",
        "auditor",
        "devops",
        "publisher",
    }
    assert set(Policy.objects.values_list("key", flat=True)) == set(SCHEMAS)


def test_rerunning_changes_nothing():
    call_command("bootstrap", "--phase", "1")
    before = snapshot()

    call_command("bootstrap", "--phase", "1")

    assert snapshot() == before


def test_rerunning_keeps_what_an_operator_changed():
    bootstrap(1, actor="test")
    Agent.objects.filter(slug="devops").update(enabled=False, daily_proposal_limit=3)

    report = bootstrap(1, actor="test")

    assert not report.changed
    devops = Agent.objects.get(slug="devops")
    assert (devops.enabled, devops.daily_proposal_limit) == (False, 3)


def test_the_tutorial_roster_brings_its_six_voices():
    bootstrap(1, "tutorial-six", actor="test")

    opus = Agent.objects.get(slug="opus")
    assert opus.signature == "Bottom line — where are we on this?"
    assert Agent.objects.filter(roster="tutorial-six", enabled=True).count() == 6


def test_unknown_rosters_and_phases_are_clear_errors():
    with pytest.raises(BootstrapError, match="unknown roster 'nope'"):
        bootstrap(1, "nope", actor="test")
    with pytest.raises(CommandError, match="phase 9 is not available"):
        call_command("bootstrap", "--phase", "9")


def test_each_roster_brings_a_reaction_matrix_aimed_at_its_own_agents(db):
    bootstrap(1, actor="test")

    targets = {p.target for p in Policy.objects.value("reaction_matrix").patterns}
    assert targets == {"auditor", "product-metrics"}
    assert targets <= set(Agent.objects.values_list("slug", flat=True))


def test_a_reaction_aimed_at_an_agent_that_does_not_exist_is_refused(db):
    bootstrap(1, actor="test")
    pattern = {
        "source": "*",
        "tags": ["x"],
        "target": "brain",
        "type": "analyze",
        "probability": 1.0,
        "cooldown": 0,
    }

    with pytest.raises(PolicyError, match=r"reaction targets \['brain'\] are not agents here"):
        set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t", reason="r")


def test_the_tutorial_roster_brings_its_own_rules_orders_and_reactions():
    six = {"opus", "brain", "growth", "creator", "twitter-alt", "observer"}
    bootstrap(1, "tutorial-six", actor="test")

    rules = {r.name: r.action_config["target_agent"] for r in TriggerRule.objects.all()}
    assert rules["proactive-scan-signals"] == "growth"
    assert rules["proactive-draft-tweet"] == "twitter-alt"
    assert rules["content-published-review"] == "observer"
    assert len(rules) == 8 and set(rules.values()) <= six
    assert set(StandingOrder.objects.values_list("agent_id", flat=True)) <= six
    assert StandingOrder.objects.filter(handler="lease_reaper", agent="observer").exists()
    targets = {p.target for p in Policy.objects.value("reaction_matrix").patterns}
    assert targets == {"brain", "growth"}

    bootstrap(2, actor="test", force=True)  # later phases keep the installed roster

    assert set(Agent.objects.values_list("slug", flat=True)) == six
    assert StandingOrder.objects.filter(phase=2).count() == 5


def test_a_second_roster_on_an_installed_company_is_refused_and_adds_nothing():
    bootstrap(1, actor="test")
    before = (Agent.objects.count(), StandingOrder.objects.count())

    with pytest.raises(BootstrapError, match="runs the ops-ten roster; --roster tutorial-six"):
        bootstrap(1, "tutorial-six", actor="test")

    assert (Agent.objects.count(), StandingOrder.objects.count()) == before
    assert bootstrap(1, "ops-ten", actor="test").changed is False  # naming its own is fine


def test_a_phase_that_brings_nothing_new_is_still_applied_and_held(capsys):
    """The tutorial roster brings every agent at phase 1 and no phase-3 order: `bootstrap
    --phase 3` (gate forced) changed no row, so it wrote no `bootstrap.phase_applied`. It said
    "already applied" of a phase never applied; phase 3's hold never started ("phase 3 was never
    applied" for ever), so phase 4's gate could only be forced, and each re-run faced phase 2's
    gate again."""
    bootstrap(1, "tutorial-six", actor="test")
    bootstrap(2, actor="test", force=True)

    call_command("bootstrap", "--phase", "3", "--force")

    said = capsys.readouterr().out
    assert "already applied" not in said and "Phase 3 (tutorial-six)" in said
    applied = Event.objects.filter(kind="bootstrap.phase_applied", tags__contains=["phase-3"])
    assert applied.count() == 1
    call_command("bootstrap", "--phase", "3")  # in force now: no gate, no second row
    assert applied.count() == 1
    assert Event.objects.filter(kind="bootstrap.gate_forced").count() == 2
