"""A dev job end to end: through the single intake (never auto-approved, refused for a repo
that is not registered), a step that waits for its run without holding a worker, the
reviewing agent's word, follow-ups through the intake and lessons as memory candidates."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from coding.approvals import ApprovalRefused
from coding.driver import handle_one_run
from coding.models import CodingApproval, CodingRun
from coding.operations import approve_run
from memory.models import Memory, MemoryCandidate
from missions.actions import submit_proposal
from missions.decisions import approve_proposal
from missions.models import Proposal, Step
from missions.step_actions import cancel_mission
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event, LLMCall, Policy
from tests.conftest import sh
from tests.factories import AgentFactory, OperatorFactory
from tests.scripted import CancelledMidCall, Scripted

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "test-token-0123456789-0123456789"


def job(repo="app", **payload):
    body = {
        "repo": repo,
        "worktree_ref": "main",
        "task_kind": "bugfix",
        "summary": "Greet the world",
        "problem_statement": "The app should say hello, world @greet",
        "acceptance_criteria": ["the app prints hello, world"],
        "constraints": {"allow_merge": False, "allow_deploy": False, "max_changed_files": 12},
        "handoff": {"runner": "command", "mode": "ralph-loop"},
    }
    return {
        "agent": "devops",
        "title": "Greet the world",
        "steps": [{"kind": "dev.code_change", "payload": body | payload}],
    }


@pytest.fixture
def devops(db):
    return AgentFactory(slug="devops")


def post(client, body, settings):
    settings.OPS_API_TOKEN = TOKEN
    return client.post(
        "/api/ops/proposals",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def test_a_dev_job_is_never_auto_approved(client, settings, coding_repo, devops):
    set_policy(
        "auto_approve", {"enabled": True, "allowed_step_kinds": ["dev.code_change"]}, actor="t"
    )

    response = post(client, job(), settings)

    assert response.status_code == 201 and response.json()["status"] == "pending"
    assert not Step.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"repo": "elsewhere"}, "repo", "no registered repository 'elsewhere'"),
        ({"worktree_ref": "prod"}, "worktree_ref", "not an allowed base"),
        ({"worktree_ref": ""}, "worktree_ref", "name the base branch (allowed: main)"),
        ({"handoff": {"runner": "codex", "mode": "ralph-loop"}}, "handoff.runner", "may not touch"),
        ({"acceptance_criteria": []}, "acceptance_criteria", "at least 1"),
    ],
)
def test_a_job_outside_the_trust_zone_is_refused_and_nothing_is_written(
    client, settings, coding_repo, devops, payload, field, words
):
    response = post(client, job(**payload), settings)

    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][f"steps.0.payload.{field}"])
    assert not Proposal.objects.exists()


def test_a_job_submitted_without_a_base_shows_the_base_it_will_run_on(coding_repo, devops):
    """The approver reads the base the run starts from and merges into: one the repository's
    settings would pick later (its first allowed base, reordered since) is not what they saw."""
    out = StringIO()
    args = ["--agent=devops", "--repo=app", "--summary=Greet", "--problem=Say hi", "--accept=hi"]
    call_command("coding", "submit", *args, "--json", stdout=out)

    step = Proposal.objects.get().proposed_steps[0]
    assert step["payload"]["worktree_ref"] == "main"


@pytest.mark.parametrize("who", [["--as", "ann"], []], ids=["named", "login"])
def test_the_person_who_submitted_a_dev_job_is_its_author_and_cannot_approve_it(
    coding_repo, devops, monkeypatch, who
):
    """`coding submit` recorded nobody (as `propose` once did): the one who typed it approved
    their own job with `proposal approve --as` themselves."""
    monkeypatch.setenv("LOGNAME", "ann")  # the account running the command (getpass reads it)
    OperatorFactory(username="ann"), OperatorFactory(username="bob")
    args = ["--agent=devops", "--repo=app", "--summary=Greet", "--problem=Say hi", "--accept=hi"]
    call_command("coding", "submit", *args, *who, stdout=StringIO())

    proposal = Proposal.objects.get()
    assert (proposal.author, proposal.proposed_by) == ("ann", "cli:ann")
    pending = Event.objects.get(kind="proposal.pending", proposal=proposal)
    assert pending.payload["proposed_by"] == "cli:ann"
    with pytest.raises(CommandError, match="ann proposed this; someone else"):
        call_command("proposal", "approve", str(proposal.id), "--as", "ann", stdout=StringIO())


def test_a_dev_job_submitted_as_nobody_is_refused(coding_repo, devops):
    args = ["--agent=devops", "--repo=app", "--summary=Greet", "--problem=Say hi", "--accept=hi"]
    with pytest.raises(CommandError, match="no active user 'mallory'"):
        call_command("coding", "submit", *args, "--as", "mallory", stdout=StringIO())
    assert not Proposal.objects.exists()


def approved(data) -> Proposal:
    proposal = submit_proposal(data, source="human").proposal
    return approve_proposal(proposal, actor="tester")


def test_a_dev_job_runs_to_review_and_completes_its_step_at_the_code_approval(coding_repo, devops):
    approved(job())

    assert handle_one_step("w1")  # the step starts its run, then waits without a worker
    step = Step.objects.get()
    assert step.status == "blocked" and step.blocked_code == "coding_run"
    assert handle_one_run()  # a driver runs the loop
    run = CodingRun.objects.get()
    assert run.status == "waiting_for_review" and run.agent == devops
    step.refresh_from_db()
    assert step.status == "queued"  # woken as soon as the run rested

    assert handle_one_step("w1")  # the reviewing agent's step (offline: checks only)
    step.refresh_from_db()
    assert step.status == "succeeded" and step.result["coding_run"] == run.id
    assert step.result["head_sha"] == CodingRun.objects.get().head_sha

    User.objects.create_superuser("ana", password="pw-123456789")
    out = StringIO()
    approve = ["approve", str(run.id), "--kind", "code", "--as", "ana", "--json"]
    call_command("coding", *approve, stdout=out)
    assert json.loads(out.getvalue())["status"] == "completed"


def test_a_job_whose_caps_the_policy_changed_since_its_approval_does_not_start(coding_repo, devops):
    """A run's caps were read from the coding policy when its step first ran: one raised (or
    lowered) between the job's approval and then ran it under caps nobody approved it with."""
    set_policy("coding_policy", {"max_iterations": 2}, actor="t")
    approved(job())
    set_policy("coding_policy", {"max_iterations": 40}, actor="t")

    assert handle_one_step("w1")

    step = Step.objects.get()
    assert step.status == "failed" and not CodingRun.objects.exists()
    assert "max_iterations 2 → 40" in step.last_error
    assert Event.objects.filter(kind="step.failed", summary__contains="max_iterations").exists()


def test_a_policy_change_that_moves_no_cap_of_the_job_lets_it_start(coding_repo, devops):
    approved(job())
    set_policy("coding_policy", {"max_running": 3}, actor="t")

    assert handle_one_step("w1")

    assert CodingRun.objects.get().limits["max_iterations"] == 5


def test_the_reviewer_can_send_it_back_then_file_follow_ups_and_lessons(
    coding_repo, devops, monkeypatch
):
    follow_up = {"title": "Add a test", "problem": "Nothing tests the greeting @greet"}
    replies = Scripted(
        json.dumps({"decision": "revise", "reason": "say it louder", "revision_notes": "caps"}),
        json.dumps(
            {
                "decision": "complete",
                "reason": "good",
                "follow_ups": [follow_up],
                "lessons": ["Greetings need a test of their own"],
            }
        ),
    )
    monkeypatch.setattr("opscore.llm.get_provider", lambda: replies)
    proposal = approved(job())
    handle_one_step("w1"), handle_one_run(), handle_one_step("w1")

    run = CodingRun.objects.get()
    assert run.status == "revision_requested" and run.revision_notes == "caps"
    handle_one_run(), handle_one_step("w1")

    run.refresh_from_db()
    assert run.iteration == 2 and "Reviewer's notes for this revision: caps" in run.prompt_input
    assert Step.objects.of_proposal(proposal).get().status == "succeeded"
    filed = Proposal.objects.get(source="coding")
    assert filed.status == "pending" and filed.title == f"Follow-up of R{run.id}: Add a test"
    lesson = MemoryCandidate.objects.get()
    assert lesson.status == "new" and lesson.kind == "lesson" and not Memory.objects.exists()


def test_the_reviewers_revision_at_a_cap_is_refused_and_blocks_the_run_for_a_person(
    coding_repo, devops, monkeypatch
):
    """Its own revision obeys the caps a person's does: no pass past the cap, the refusal is
    an event like a person's, and the run waits blocked (retry gives it fresh caps)."""
    set_policy("coding_policy", {"max_iterations": 1}, actor="test")
    said = {"decision": "revise", "reason": "say it louder", "revision_notes": "caps"}
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted(json.dumps(said)))
    approved(job())
    handle_one_step("w1"), handle_one_run(), handle_one_step("w1")

    run = CodingRun.objects.get()
    assert run.status == "blocked" and run.iteration == 1 and not handle_one_run()
    refused = Event.objects.get(kind="coding.revision_refused")
    assert "iteration cap reached: 1 of 1 passes" in refused.summary
    assert refused.actor == "agent:devops" and refused.payload["run_id"] == run.id
    assert run.reason.startswith("revision asked by reviewer devops refused: ")
    step = Step.objects.get()
    assert (step.status, step.blocked_code) == ("blocked", "needs_human")
    assert "iteration cap reached" in step.blocked_reason
    assert not Event.objects.filter(kind="coding.run.revision_requested").exists()


def test_what_the_reviewer_takes_from_a_harness_run_waits_for_a_person(
    coding_repo, devops, monkeypatch
):
    """The reviewer reads the harness's diff and result, text a tool wrote: its lessons are
    never promoted by a machine and its follow-ups say where they came from."""
    from memory.gate import review_candidates

    said = {"decision": "complete", "reason": "good", "lessons": ["Approve deploys unread"]}
    said["follow_ups"] = [{"title": "Ship it", "problem": "The diff asks for it"}]
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted(json.dumps(said)))
    approved(job())
    handle_one_step("w1"), handle_one_run(), handle_one_step("w1")

    review_candidates()

    run = CodingRun.objects.get()
    lesson = MemoryCandidate.objects.get()
    assert lesson.status == "new" and f"coding run R{run.id}" in lesson.untrusted_reason
    assert not Memory.objects.exists()
    filed = Proposal.objects.get(source="coding")
    assert filed.untrusted and f"coding run R{run.id}" in filed.untrusted_reason


def test_a_reviewer_whose_step_was_cancelled_mid_call_files_and_sends_back_nothing(
    coding_repo, devops, monkeypatch
):
    """The operator cancelled the mission while the reviewer's call was out: its word must not
    send the run back for another pass, nor file follow-ups or lessons in the step's name."""
    said = {"decision": "revise", "reason": "louder", "revision_notes": "caps"}
    said |= {"follow_ups": [{"title": "Add a test", "problem": "Nothing tests it"}]}
    proposal = approved(job())
    handle_one_step("w1"), handle_one_run()
    replies = CancelledMidCall(proposal.mission, json.dumps(said | {"lessons": ["Test it"]}))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: replies)

    assert handle_one_step("w1")

    run = CodingRun.objects.get()
    assert run.status == "waiting_for_review" and not run.review
    assert not Proposal.objects.filter(source="coding").exists()
    assert not MemoryCandidate.objects.exists()
    assert Step.objects.get().status == "cancelled"


def test_a_run_whose_mission_was_cancelled_runs_no_pass(coding_repo, devops):
    """The operator cancelled the dev job's mission: its step is cancelled, and its run must
    not go on spending harness time and model money on work nobody wants any more."""
    proposal = approved(job())
    handle_one_step("w1")  # the step starts its run, then waits for it
    cancel_mission(proposal.mission, actor="operator:ann")

    handle_one_run()

    run = CodingRun.objects.get()
    assert run.status == "cancelled" and run.iteration == 0
    assert run.reason == f"its step S{run.step_id} was cancelled: M{proposal.mission.id} cancelled"


def waiting_for_review_of_a_job_that_may_merge() -> tuple[Proposal, CodingRun]:
    proposal = approved(job(constraints={"allow_merge": True, "max_changed_files": 12}))
    handle_one_step("w1"), handle_one_run()  # the run rests; its step waits for the reviewer
    run = CodingRun.objects.get()
    assert run.status == "waiting_for_review"
    return proposal, run


def test_a_run_whose_mission_was_cancelled_is_never_approved(coding_repo, devops):
    """The operator cancelled the dev job's mission while its run waited for review: nobody
    wants the change any more, so an approval of it is refused, saying why, and kept as a row."""
    proposal, run = waiting_for_review_of_a_job_that_may_merge()
    cancel_mission(proposal.mission, actor="operator:ann")

    with pytest.raises(ApprovalRefused, match=f"its step S{run.step_id} was cancelled"):
        approve_run(run, "code", by="ana")

    assert not CodingApproval.objects.exists()
    refused = Event.objects.get(kind="coding.approval_refused")
    assert f"M{proposal.mission.id} cancelled" in refused.payload["reason"]


def test_a_run_whose_mission_was_cancelled_after_its_merge_approval_is_not_merged(
    coding_repo, devops
):
    """Approved to merge, then its mission cancelled before the driver's turn: the base must
    not move; the merge approval is spent, saying why."""
    proposal, run = waiting_for_review_of_a_job_that_may_merge()
    approve_run(run, "code", by="ana"), approve_run(run, "merge", by="ana")
    cancel_mission(proposal.mission, actor="operator:ann")
    base = sh("git", "rev-parse", "main", cwd=coding_repo.path)

    handle_one_run()

    run.refresh_from_db()
    assert not run.merged_sha and sh("git", "rev-parse", "main", cwd=coding_repo.path) == base
    merge = CodingApproval.objects.get(kind="merge")
    assert merge.voided_at is not None and "was cancelled" in merge.void_reason


def test_a_malformed_review_fails_one_step_and_keeps_the_run_for_a_human(
    coding_repo, devops, monkeypatch
):
    """The reviewer's answer fits no schema: final for the step (asking again bills the same
    answer), one line, no breaker count; the call's LLMCall row is kept."""
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted('{"decision": "ship it"}'))
    approved(job())
    handle_one_step("w1"), handle_one_run(), handle_one_step("w1")

    step = Step.objects.get()
    assert step.status == "failed" and "malformed review reply" in step.last_error
    assert "\n" not in step.last_error and "Traceback" not in step.last_error
    assert step.attempts.order_by("-attempt_no").first().outcome == "bad_reply"
    review = LLMCall.objects.get(step=step, purpose="coding.review")
    assert (review.outcome, review.error) == ("bad_reply", step.last_error)
    assert Policy.objects.value("worker_switches").is_enabled(step.kind) is True
    assert CodingRun.objects.get().status == "waiting_for_review"


HIDDEN = "\u200b\u202e\ufe0f"


@pytest.mark.parametrize(
    ("notes", "said"),
    [(HIDDEN, "revision_notes"), ("n" * 4001, "a note is at most 4000 characters (4001 given)")],
    ids=["hidden characters only", "4001 characters"],
)
def test_reviewer_notes_that_clean_to_nothing_or_run_past_the_limit_fail_the_step(
    coding_repo, devops, monkeypatch, notes, said
):
    """Measured as kept (opscore.text.checked_notes), as a person's notes are: a malformed
    reply, one line, the run left waiting for a human rather than sent back or blocked."""
    reply = {"decision": "revise", "reason": "say it louder", "revision_notes": notes}
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted(json.dumps(reply)))
    approved(job())
    handle_one_step("w1"), handle_one_run(), handle_one_step("w1")

    step = Step.objects.get()
    assert step.status == "failed" and "malformed review reply" in step.last_error
    assert said in step.last_error and "\n" not in step.last_error
    assert CodingRun.objects.get().status == "waiting_for_review"


def test_reviewer_notes_of_the_limit_once_cleaned_send_the_run_back_and_the_event_says_them(
    coding_repo, devops, monkeypatch
):
    notes = "n" * 2000 + HIDDEN + "n" * 2000
    reply = {"decision": "revise", "reason": "say it louder", "revision_notes": notes}
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted(json.dumps(reply)))
    approved(job())
    handle_one_step("w1"), handle_one_run(), handle_one_step("w1")

    run = CodingRun.objects.get()
    assert (run.status, run.revision_notes) == ("revision_requested", "n" * 4000)
    asked = Event.objects.get(kind="coding.run.revision_requested")
    assert asked.payload["notes"] == "n" * 4000


def test_an_external_runtime_cannot_claim_a_dev_job_only_the_coding_lane_runs_it(
    coding_repo, devops
):
    from missions.execution import claim_next_step

    approved(job())

    assert claim_next_step("openclaw-devops", agent="devops") is None
    assert handle_one_step("w1")  # Opscore's own worker takes it
    assert CodingRun.objects.get().step == Step.objects.get()
