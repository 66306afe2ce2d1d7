"""A person sends a run waiting for review back for one more pass with their notes (`coding
revise`, the admin's Revise action): the pass tests the branch as it stands, a commit pushed
there by hand included, counts against the caps, and brings the run back to review with fresh
test results. A run not waiting for review, blank notes or a run at its caps is refused in one
line, and the refusal is an event."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coding.actions import RunRefused, revise_run
from coding.approvals import ApprovalRefused
from coding.driver import handle_one_run
from coding.models import CodingApproval, CodingRun
from coding.operations import approve_run
from opscore.actions import set_policy
from opscore.models import Event
from tests.coding_support import new_run
from tests.conftest import sh

# a person committing in a run's worktree (owned by the sandbox's uid, hence safe.directory)
GIT = ["git", "-c", "safe.directory=*", "-c", "user.email=a@b", "-c", "user.name=a"]
SHA = "a" * 40
pytestmark = pytest.mark.django_db


def waiting(repo, **fields) -> CodingRun:
    """A run its last pass left waiting for review (no harness needed to refuse or accept)."""
    run = new_run(repo, "@greet")
    branch = f"opscore/{run.id}-greeting"
    values = {"status": "waiting_for_review", "head_sha": SHA, "branch": branch, "iteration": 1}
    CodingRun.objects.filter(pk=run.pk).update(**values | fields)
    run.refresh_from_db()
    return run


def refusals() -> list[Event]:
    return list(Event.objects.filter(kind="coding.revision_refused"))


@pytest.mark.django_db(transaction=True)  # the driver commits, as in production
def test_it_tests_a_commit_pushed_by_hand_and_then_lets_it_be_approved(coding_repo):
    set_policy("coding_policy", {"max_iterations": 2}, actor="test")
    run = new_run(coding_repo, "@greet", allow_merge=True)
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    Path(run.worktree_path, "NOTES.md").write_text("checked by hand\n")
    sh(*GIT, "add", "NOTES.md", cwd=run.worktree_path)
    sh(*GIT, "commit", "-qm", "by hand", cwd=run.worktree_path)
    pushed = sh(*GIT, "rev-parse", "HEAD", cwd=run.worktree_path).strip()
    with pytest.raises(ApprovalRefused, match=f"no pass has tested it.*coding revise {run.id}"):
        approve_run(run, "code", by="ana")

    out = StringIO()
    notes = ["--notes", "keep the hand-written notes"]
    call_command("coding", "revise", str(run.id), *notes, "--json", stdout=out)
    assert json.loads(out.getvalue())["status"] == "revision_requested"
    assert handle_one_run()

    run.refresh_from_db()
    tested = run.last_test_run()
    assert run.status == "waiting_for_review" and (tested.number, tested.tests_passed) == (2, True)
    assert "keep the hand-written notes" in tested.prompt
    sh(*GIT, "merge-base", "--is-ancestor", pushed, run.head_sha, cwd=coding_repo.path)
    with pytest.raises(RunRefused, match="iteration cap reached: 2 of 2"):
        revise_run(run, "once more", by="ana")  # the revision pass counted
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "completed"
    assert Path(coding_repo.path, "NOTES.md").read_text() == "checked by hand\n"


def test_it_sends_the_run_back_with_the_notes_and_withdraws_standing_approvals(git_repo):
    run = waiting(git_repo)
    CodingApproval.objects.create(run=run, kind="code", sha=SHA, approved_by="bo")

    revise_run(run, "  also wave  ", by="ana")

    run.refresh_from_db()
    assert (run.status, run.revision_notes) == ("revision_requested", "also wave")
    assert run.reason == "revision requested by ana: also wave"
    moved = Event.objects.get(kind="coding.run.revision_requested")
    assert moved.payload["run_id"] == run.id and "also wave" in moved.summary
    assert CodingApproval.objects.get().void_reason == "sent back for a revision by ana"
    assert not refusals()


@pytest.mark.parametrize("status", ["queued", "running", "revision_requested", "completed"])
def test_it_refuses_a_run_not_waiting_for_review(git_repo, status):
    run = waiting(git_repo, status=status)

    with pytest.raises(RunRefused, match=f"R{run.id} is {status}; only a run waiting for review"):
        revise_run(run, "also wave", by="ana")

    run.refresh_from_db()
    (refused,) = refusals()
    assert run.status == status and refused.actor == "human:ana"
    assert refused.payload["status"] == status and "only a run waiting" in refused.summary


@pytest.mark.parametrize("notes", ["", "  \n "])
def test_it_refuses_blank_notes(git_repo, notes):
    run = waiting(git_repo)

    with pytest.raises(RunRefused, match="a revision needs notes"):
        revise_run(run, notes, by="ana")

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and len(refusals()) == 1


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"iteration": 5}, "iteration cap reached: 5 of 5 passes"),
        ({"cost_usd": 5}, "cost cap reached: $5.0000 of $5"),
    ],
)
def test_it_refuses_a_run_at_its_caps(git_repo, fields, words):
    run = waiting(git_repo, **fields)

    with pytest.raises(RunRefused, match=f"can take no more passes: {words}".replace("$", r"\$")):
        revise_run(run, "also wave", by="ana")

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and words in refusals()[0].summary


def test_a_retried_run_counts_its_passes_from_the_retry(git_repo):
    run = waiting(git_repo, iteration=5)
    CodingRun.objects.filter(pk=run.pk).update(limits=run.limits | {"first_iteration": 5})
    run.refresh_from_db()

    revise_run(run, "also wave", by="ana")

    assert run.status == "revision_requested"


def test_the_cli_refuses_in_one_line_with_exit_2(git_repo):
    run = waiting(git_repo, status="completed")

    with pytest.raises(CommandError) as refused:
        call_command("coding", "revise", str(run.id), "--notes", "also wave")
    with pytest.raises(SystemExit) as as_json:
        call_command("coding", "revise", str(run.id), "--notes", " ", "--json", stdout=StringIO())
    with pytest.raises(CommandError) as missing:
        call_command("coding", "revise", "999999", "--notes", "also wave")

    assert refused.value.returncode == 2 and "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"R{run.id} is completed; only a run waiting")
    assert as_json.value.code == 2 and missing.value.returncode == 2
    assert refusals()[0].actor.startswith("human:cli:")


def test_the_cli_sends_a_run_back(git_repo):
    run = waiting(git_repo)
    out = StringIO()

    call_command("coding", "revise", str(run.id), "--notes", "also wave", stdout=out)

    assert out.getvalue().startswith(f"R{run.id} revision_requested: revision requested by cli:")


def test_the_admin_action_asks_for_the_notes_then_sends_the_run_back(admin_client, git_repo):
    run = waiting(git_repo)
    url = "/admin/coding/codingrun/"
    chosen = {"action": "revise_runs", "_selected_action": [run.id]}

    asked = admin_client.post(url, chosen).content.decode()
    done = admin_client.post(url, chosen | {"apply": "1", "reason": "also wave"}, follow=True)

    assert "Send 1 run(s) back for a revision pass" in asked and 'name="reason"' in asked
    assert "1 sent back for a revision pass." in done.content.decode()
    run.refresh_from_db()
    assert run.status == "revision_requested" and run.reason.endswith("by operator: also wave")


def test_the_admin_action_says_why_it_refused(admin_client, git_repo):
    run, other = waiting(git_repo), waiting(git_repo, status="failed")
    url = "/admin/coding/codingrun/"
    chosen = {"action": "revise_runs", "_selected_action": [run.id, other.id], "apply": "1"}

    blank = admin_client.post(url, chosen | {"reason": " "}, follow=True).content.decode()
    done = admin_client.post(url, chosen | {"reason": "also wave"}, follow=True).content.decode()

    assert f"R{run.id}: a revision needs notes" in blank
    assert f"R{other.id}: R{other.id} is failed; only a run waiting for review" in done
    assert "1 sent back for a revision pass." in done
    assert [e.actor for e in refusals()] == ["human:operator"] * 3
