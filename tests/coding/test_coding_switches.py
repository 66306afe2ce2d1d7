"""A switch that says paused stops the coding lane's work whoever's it is: a run queued for an
agent since disabled or drained is not started (nor adopted) while the override holds, and it
starts once the override is lifted."""

import pytest

from coding.driver import handle_one_run
from opscore.overrides import apply_override, lift_override
from tests.coding_support import new_run


@pytest.mark.django_db
@pytest.mark.parametrize("kind,target", [("disable-agent", "devops"), ("drain", "agent:devops")])
def test_it_starts_no_run_of_an_agent_switched_off(coding_repo, agent, kind, target):
    run = new_run(coding_repo, "@greet", mode="single-shot", agent=agent)
    apply_override(kind, target, reason="runaway spend", actor="operator:ana")

    assert not handle_one_run()

    run.refresh_from_db()
    assert run.status == "queued"


@pytest.mark.django_db
def test_it_starts_the_run_once_the_agent_is_enabled_again(coding_repo, agent):
    run = new_run(coding_repo, "@greet", mode="single-shot", agent=agent)
    row = apply_override("disable-agent", "devops", reason="runaway spend", actor="operator:ana")
    assert not handle_one_run()

    lift_override(row.id, actor="operator:ana", reason="spend understood")

    assert handle_one_run()
    run.refresh_from_db()
    assert run.status != "queued"
