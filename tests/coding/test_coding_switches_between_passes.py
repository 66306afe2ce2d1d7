"""A switch thrown while a ralph-loop run is under way holds it at its next pass's launch: the
pass under way finishes, no further one starts (no harness, no spend, no tests), and the run is
blocked naming the override and how it goes on — queued again when the override is lifted."""

from datetime import timedelta

import pytest

from coding import loop
from coding.driver import handle_one_run
from opscore.models import Event
from opscore.overrides import apply_override, lift_expired_overrides, lift_override
from tests.coding_support import new_run

pytestmark = pytest.mark.django_db(transaction=True)


def thrown_after_the_first_pass(monkeypatch, throw) -> dict:
    """`throw()` once the run's first pass has ended, before the loop looks at the next; what
    it returned ("override") and the passes launched ("launched") are kept. The pass is the
    seam: the harness, boxed, cannot reach the database to throw a switch itself."""
    seen, real = {"launched": []}, loop.one_pass

    def watched(run, spare=None, stint=None):
        seen["launched"].append(run.iteration + 1)
        went_on = real(run, spare, stint)
        if seen["launched"] == [1]:
            seen["override"] = throw()
        return went_on

    monkeypatch.setattr(loop, "one_pass", watched)
    return seen


@pytest.mark.parametrize("target", ["coding", "coding:drop"])
def test_a_paused_lane_launches_no_further_pass_of_a_running_run(coding_repo, monkeypatch, target):
    run = new_run(coding_repo, "@eventually")  # its second pass would prove it
    seen = thrown_after_the_first_pass(
        monkeypatch,
        lambda: apply_override("pause-lane", target, reason="quiet week", actor="operator:ana"),
    )

    assert handle_one_run()

    run.refresh_from_db()
    row = seen["override"]
    assert seen["launched"] == [1] and run.iterations.count() == 1
    assert run.status == "blocked" and run.iteration == 1
    assert f"by override {row.id}: quiet week" in run.reason
    assert f"queued again once it is lifted (or `coding retry {run.id}`)" in run.reason
    assert Event.objects.filter(kind="coding.run.blocked", payload__run_id=run.id).exists()
    assert run.worktree_path  # kept, as a blocked run keeps it


@pytest.mark.parametrize("kind,target", [("disable-agent", "devops"), ("drain", "agent:devops")])
def test_an_agent_switched_off_launches_no_further_pass_of_its_running_run(
    coding_repo, agent, monkeypatch, kind, target
):
    run = new_run(coding_repo, "@eventually", agent=agent)
    seen = thrown_after_the_first_pass(
        monkeypatch,
        lambda: apply_override(kind, target, reason="runaway spend", actor="operator:ana"),
    )

    assert handle_one_run()

    run.refresh_from_db()
    row = seen["override"]
    assert seen["launched"] == [1] and run.status == "blocked"
    assert "agent devops" in run.reason and f"by override {row.id}: runaway spend" in run.reason


def test_a_run_held_by_a_pause_is_queued_again_when_it_is_lifted_and_finishes(
    coding_repo, monkeypatch
):
    run = new_run(coding_repo, "@eventually")
    seen = thrown_after_the_first_pass(
        monkeypatch,
        lambda: apply_override("pause-lane", "coding", reason="quiet week", actor="operator:ana"),
    )
    assert handle_one_run()

    lift_override(seen["override"].id, actor="operator:ana", reason="back to work")

    run.refresh_from_db()
    assert run.status == "queued"
    assert run.reason == f"released: override {seen['override'].id} lifted"
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "waiting_for_review"  # on from its second pass, its caps counting
    assert seen["launched"][:2] == [1, 2] and run.iteration == len(seen["launched"])


def test_a_run_held_by_an_agent_switch_is_queued_again_when_it_expires(
    coding_repo, agent, monkeypatch, clock
):
    run = new_run(coding_repo, "@eventually", agent=agent)
    seen = thrown_after_the_first_pass(
        monkeypatch,
        lambda: apply_override(
            "disable-agent", "devops", reason="runaway spend", actor="ana", expires="5m"
        ),
    )
    assert handle_one_run()

    seen["override"].refresh_from_db()
    clock.travel(seen["override"].expires_at + timedelta(minutes=1))
    lift_expired_overrides()

    run.refresh_from_db()
    assert run.status == "queued"
    assert run.reason == f"released: override {seen['override'].id} expired"


def test_a_lift_leaves_a_run_another_switch_holds_blocked(coding_repo, agent, monkeypatch):
    run = new_run(coding_repo, "@eventually")
    thrown_after_the_first_pass(
        monkeypatch,
        lambda: apply_override("pause-lane", "coding", reason="quiet week", actor="operator:ana"),
    )
    assert handle_one_run()
    other = apply_override("disable-agent", "devops", reason="unrelated", actor="operator:ana")

    lift_override(other.id, actor="operator:ana", reason="done")

    run.refresh_from_db()
    assert run.status == "blocked"


def test_a_run_nothing_switched_off_goes_on_to_its_next_pass(coding_repo, agent):
    run = new_run(coding_repo, "@eventually", agent=agent)

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and run.iteration == 2


def test_an_orphaned_run_of_a_disabled_agent_is_held_not_driven_when_adopted(coding_repo, agent):
    """A driver died mid-pass; the agent was switched off meanwhile. The next driver adopts
    the run (its lost pass counted) and holds it: no pass launches until the switch is lifted."""
    from coding.worktrees import provision

    run = provision(new_run(coding_repo, "@greet", agent=agent))
    run.move("running")  # its driver is gone: nobody holds it
    row = apply_override("disable-agent", "devops", reason="runaway spend", actor="operator:ana")

    handle_one_run()

    run.refresh_from_db()
    assert run.status == "blocked" and f"by override {row.id}: runaway spend" in run.reason
    assert [i.verdict for i in run.iterations.all()] == ["lost with its driver"]
    lift_override(row.id, actor="operator:ana", reason="spend is back under control")
    run.refresh_from_db()
    assert run.status == "queued"
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "waiting_for_review"
