"""A revision's notes and an approval's note are kept whole or refused, as every reason is
(opscore.text): cleaned of the characters that hide or reorder text, and refused past their
limit (opscore.text.MAX_NOTES, 4000) with an error saying so. The notes were cut to 4000
without a word, and notes of nothing but hidden characters sent a run back saying nothing; an
approval's note was cut to 2000."""

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from coding.actions import RunRefused, reviewer_revises, revise_run
from coding.approvals import ApprovalRefused
from coding.driver import handle_one_run
from coding.models import CodingApproval, CodingRun
from coding.operations import approve_run
from opscore.models import Event
from tests.coding_support import new_run

SHA = "a" * 40
HIDDEN = "\u200b\u202e\ufe0f"
TOO_LONG = "n" * 4001
SAID_TOO_LONG = re.escape("a note is at most 4000 characters (4001 given)")


def waiting(repo, **fields) -> CodingRun:
    run = new_run(repo, "@greet")
    values = {"status": "waiting_for_review", "head_sha": SHA, "iteration": 1}
    values["branch"] = f"opscore/{run.id}-greeting"
    CodingRun.objects.filter(pk=run.pk).update(**values | fields)
    run.refresh_from_db()
    return run


def still_waiting(run) -> bool:
    run.refresh_from_db()
    return run.status == "waiting_for_review" and run.revision_notes == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "notes, said",
    [(HIDDEN, "a revision needs notes"), (TOO_LONG, SAID_TOO_LONG)],
    ids=["hidden characters only", "4001 characters"],
)
def test_a_person_s_revision_notes_refused_leave_the_run_waiting(git_repo, notes, said):
    run = waiting(git_repo)

    with pytest.raises(RunRefused, match=said):
        revise_run(run, notes, by="ana")
    with pytest.raises(CommandError, match=said):
        call_command("coding", "revise", str(run.id), "--notes", notes)

    assert still_waiting(run)
    assert Event.objects.filter(kind="coding.revision_refused").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("notes", [HIDDEN, TOO_LONG], ids=["hidden only", "4001 characters"])
def test_the_admin_s_revise_refuses_such_notes_and_says_why(admin_client, git_repo, notes):
    run = waiting(git_repo)
    chosen = {"action": "revise_runs", "_selected_action": [run.id], "apply": "1"}

    page = admin_client.post("/admin/coding/codingrun/", chosen | {"reason": notes}, follow=True)

    assert f"R{run.id}: " in page.content.decode() and still_waiting(run)


@pytest.mark.django_db
def test_a_reviewer_s_hidden_only_notes_block_the_run_saying_why(git_repo):
    run = waiting(git_repo)

    assert not reviewer_revises(run, HIDDEN, agent="rev")

    run.refresh_from_db()
    assert run.status == "blocked" and "a revision needs notes" in run.reason
    assert run.revision_notes == ""


@pytest.mark.django_db
def test_notes_of_4000_characters_are_kept_whole_without_what_hides(git_repo):
    run = waiting(git_repo)

    revise_run(run, "n" * 2000 + HIDDEN + "n" * 2000, by="ana")

    run.refresh_from_db()
    assert (run.status, run.revision_notes) == ("revision_requested", "n" * 4000)


@pytest.mark.django_db
def test_an_approval_s_note_past_4000_characters_is_refused_before_anything(git_repo):
    run = waiting(git_repo)

    with pytest.raises(ApprovalRefused, match=SAID_TOO_LONG):
        approve_run(run, "code", by="ana", note=TOO_LONG)
    with pytest.raises(CommandError, match=SAID_TOO_LONG):
        User.objects.create_superuser("ana", password="pw-123456789")
        approve = ["approve", str(run.id), "--kind", "code", "--as", "ana", "--note", TOO_LONG]
        call_command("coding", *approve)

    assert not CodingApproval.objects.exists()
    assert not Event.objects.filter(kind__startswith="coding.approved").exists()


@pytest.mark.django_db(transaction=True)  # the driver commits, as in production
def test_an_approval_s_note_is_kept_whole_on_the_approval_and_its_event(coding_repo):
    run = new_run(coding_repo, "@greet")
    assert handle_one_run()
    run.refresh_from_db()
    note = "n" * 3000 + HIDDEN

    approve_run(run, "code", by="ana", note=note)

    approved = Event.objects.get(kind="coding.approved.code")
    assert CodingApproval.objects.get().note == "n" * 3000
    assert approved.payload["note"] == "n" * 3000
