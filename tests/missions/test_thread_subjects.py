"""Every kind of thread: a proposal's remarks reach the mission it becomes; an opportunity's
finder and a coding run's agent answer on theirs; a closed one keeps the comment only."""

import pytest

from coding.models import CodingRun, Repository
from missions.threads import post_comment
from missions.worker import handle_one_step
from opportunities.actions import convert_opportunity
from opportunities.models import Opportunity
from tests.factories import make_step
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db


def test_a_remark_on_a_proposal_reaches_its_missions_prompt(agent, monkeypatch):
    model = Scripted("Will do.", "Done.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    step = make_step("analyze", agent=agent)
    remark = post_comment(
        "proposal", step.mission.proposal_id, actor="operator:ann", text="cite sources"
    )
    assert remark.replies.get().agent_id == "devops"
    handle_one_step("w1")
    assert "- operator:ann: cite sources" in model.requests[1].messages[0]["content"]


def test_an_opportunitys_finder_answers_on_its_thread_until_it_is_parked(agent):
    opp = Opportunity.objects.create(
        source_agent=agent,
        theme="ops",
        title="Exports stall",
        why_now="nightly",
        impact=3,
        confidence=3,
        urgency=2,
        reversibility="high",
        suggested_next_step="move it",
    )
    remark = post_comment("opportunity", opp.id, actor="operator:ann", text="worth it?")
    assert (remark.mission_id, remark.replies.get().agent_id) == (None, "devops")
    Opportunity.objects.filter(pk=opp.pk).update(status="parked")
    late = post_comment("opportunity", opp.id, actor="operator:ann", text="still?")
    assert late.note == f"kept; starts no work: O{opp.id} is parked" and not late.replies.exists()


def test_a_coding_runs_agent_answers_and_its_mission_hears_it(agent):
    step = make_step("code_change", agent=agent)
    repo = Repository.objects.create(name="app", path="/tmp/nowhere", allowed_base_refs=["main"])
    run = CodingRun.objects.create(
        repository=repo, step=step, runner="command", base_ref="main", task={"summary": "fix it"}
    )
    remark = post_comment("coding_run", run.id, actor="operator:ann", text="keep the diff small")
    assert (remark.agent_id, remark.mission_id) == ("devops", step.mission_id)
    assert remark.replies.get().text.startswith(f"[offline] I read your comment on R{run.id}")
    CodingRun.objects.filter(pk=run.pk).update(status="completed")
    assert post_comment("coding_run", run.id, actor="operator:ann", text="x").starts_work is False


def test_a_remark_on_an_opportunity_reaches_the_mission_it_becomes(agent, monkeypatch):
    model = Scripted("Will do.", "Done.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    opp = Opportunity.objects.create(
        source_agent=agent, theme="ops", title="Exports stall", why_now="nightly", impact=3,
        confidence=3, urgency=2, reversibility="high", suggested_next_step="move it",
    )  # fmt: skip
    post_comment("opportunity", opp.id, actor="operator:ann", text="EU only, please")

    converted = convert_opportunity(opp, converted_by="operator:ann", target_agent="devops")

    assert converted.proposal.status == "accepted"
    handle_one_step("w1")
    assert "- operator:ann: EU only, please" in model.requests[1].messages[0]["content"]


def test_a_remark_on_an_opportunity_whose_proposal_was_rejected_starts_no_work(agent):
    """No mission will ever hear it, as on the rejected proposal's own thread: the finder was
    asked to answer (a model call) and promised its next step would take the remark in."""
    from missions.actions import submit_proposal
    from missions.decisions import reject_proposal
    from tests.factories import make_opportunity

    data = {"agent": "devops", "title": "Move exports", "steps": [{"kind": "analyze"}]}
    proposal = submit_proposal(data, source="api", needs_human=True).proposal
    reject_proposal(proposal, actor="operator:ann", reason="not this quarter")
    opp = make_opportunity(agent, status="converted", proposal=proposal)

    remark = post_comment("opportunity", opp.id, actor="operator:ann", text="EU only, please")

    assert remark.starts_work is False and not remark.replies.exists()
    assert remark.note == f"kept; starts no work: P{proposal.id} is rejected"
