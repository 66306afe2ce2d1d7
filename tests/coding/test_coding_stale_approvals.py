"""A code approval approves the digest it was given for (task, harness, caps, checks): once the
run no longer matches it, a merge does not stand on it, and a new approval can replace it."""

import pytest

from coding.approvals import ApprovalRefused
from coding.driver import handle_one_run
from coding.models import CodingApproval, CodingRun
from coding.operations import approve_run
from opscore.models import Event
from tests.coding_support import new_run

pytestmark = pytest.mark.django_db(transaction=True)


def reviewed(repo, **constraints):
    run = new_run(repo, "@greet", **constraints)
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    return run


def raise_a_cap(run: CodingRun) -> CodingRun:
    """A cap raised after the code approval (the row by hand, a bug): not what was approved."""
    CodingRun.objects.filter(pk=run.pk).update(limits=run.limits | {"max_changed_files": 1000})
    run.refresh_from_db()
    return run


def test_a_merge_approval_on_a_stale_code_approval_is_refused_with_a_row(coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    run = raise_a_cap(run)

    with pytest.raises(ApprovalRefused, match=r"code approval .* was given for"):
        approve_run(run, "merge", by="bo")

    assert not CodingApproval.objects.filter(kind="merge").exists()
    refused = Event.objects.get(kind="coding.approval_refused")
    assert "approve the code again" in refused.summary


def test_a_merge_standing_on_a_stale_code_approval_is_not_merged(coding_repo):
    """A merge approval given before the code approval went stale (or over it): the driver
    refuses the merge, saying why, and the base stays where it was."""
    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    run = raise_a_cap(run)
    CodingApproval.objects.create(  # a merge approval of what the run is now
        run=run,
        kind="merge",
        sha=run.head_sha,
        approved_by="bo",
        content_digest=run.approval_digest("merge"),
    )

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and not run.merged_sha
    assert "code approval" in run.reason and "approve the code again" in run.reason
    assert CodingApproval.objects.get(kind="merge").voided_at is not None
    assert Event.objects.filter(summary__contains="approve the code again").exists()


def test_a_stale_code_approval_is_replaced_by_a_new_one_and_both_are_kept(coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    first, _ = approve_run(run, "code", by="ana")
    run = raise_a_cap(run)

    second, given = approve_run(run, "code", by="cy", shown_digest=run.approval_digest("code"))

    assert given and second.pk != first.pk
    assert second.content_digest == run.approval_digest("code") and second.voided_at is None
    first.refresh_from_db()
    assert first.voided_at is not None and "replaced" in first.void_reason
    assert Event.objects.filter(kind="coding.approved.code").count() == 2
    approve_run(run, "merge", by="bo")  # the merge now stands on the new one
    assert CodingApproval.objects.standing().filter(kind="merge").exists()


def test_approving_an_unchanged_run_again_stays_idempotent(coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    first, _ = approve_run(run, "code", by="ana")

    again, given = approve_run(run, "code", by="cy")

    assert not given and again.pk == first.pk
    assert CodingApproval.objects.count() == 1
    assert Event.objects.filter(kind="coding.approved.code").count() == 1
