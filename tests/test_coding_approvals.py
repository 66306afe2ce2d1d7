"""Four approvals, each a human's and each bound to the head commit: a newer commit voids
them, a merge needs its own approval and green tests on the merged head."""

import sys
from pathlib import Path

import pytest

from coding.approvals import ApprovalRefused
from coding.driver import handle_one_run
from coding.models import CodingApproval
from coding.operations import approve_run
from tests.coding_support import new_run
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)
# a person committing in a run's worktree (owned by the sandbox's uid, hence safe.directory)
COMMIT = ["git", "-c", "safe.directory=*", "-c", "user.email=a@b", "-c", "user.name=a"]
COMMIT += ["commit", "-qam"]


def reviewed(repo, tokens="@greet", **constraints):
    run = new_run(repo, tokens, **constraints)
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    return run


def test_a_commit_after_approval_voids_it(coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    Path(run.worktree_path, "app.py").write_text("print('sneaky')\n")
    sh(*COMMIT, "after review", cwd=run.worktree_path)

    with pytest.raises(ApprovalRefused, match="the branch moved"):
        approve_run(run, "merge", by="ana")

    code = CodingApproval.objects.get(kind="code")
    assert code.voided_at is not None and "moved" in code.void_reason
    run.refresh_from_db()
    with pytest.raises(ApprovalRefused, match="needs a standing code approval"):
        approve_run(run, "merge", by="ana")


def test_a_merge_needs_its_own_approval_and_lands_with_green_tests(coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    assert not handle_one_run()  # code approval alone merges nothing
    main = Path(coding_repo.path, "app.py")
    assert main.read_text() == "print('hello')\n"

    approve_run(run, "merge", by="ana")
    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "completed" and run.merged_sha
    assert main.read_text() == "print('hello, world')\n"  # the main checkout followed
    assert sh("git", "rev-parse", "main", cwd=coding_repo.path).strip() == run.merged_sha


def test_red_tests_on_the_merged_head_leave_the_base_untouched(coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    before = sh("git", "rev-parse", "main", cwd=coding_repo.path)
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    coding_repo.test_command = [sys.executable, "-c", "raise SystemExit(3)"]
    coding_repo.save()

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and "tests failed on the merged head" in run.reason
    assert sh("git", "rev-parse", "main", cwd=coding_repo.path) == before
    assert CodingApproval.objects.get(kind="merge").voided_at is not None


@pytest.mark.parametrize(
    ("kind", "words"),
    [("merge", "allow_merge: false"), ("deploy", "allow_deploy: false")],
)
def test_a_job_that_may_not_merge_or_deploy_refuses_those_approvals(coding_repo, kind, words):
    run = reviewed(coding_repo)
    CodingApproval.objects.create(run=run, kind="code", sha=run.head_sha, approved_by="ana")

    with pytest.raises(ApprovalRefused, match=words):
        approve_run(run, kind, by="ana")


def test_the_admin_approves_at_the_head_and_shows_the_diff_escaped(coding_repo, admin_client):
    run = reviewed(coding_repo, "@greet")
    url = "/admin/coding/codingrun/"

    response = admin_client.post(
        url, {"action": "approve_code", "_selected_action": [run.id]}, follow=True
    )
    page = admin_client.get(f"{url}{run.id}/change/").content.decode()

    assert "1 code approval(s) recorded" in response.content.decode()
    assert CodingApproval.objects.get().sha == run.head_sha
    assert "print(&#x27;hello, world&#x27;)" in page
