"""Four approvals, each a human's and each bound to the head commit: a newer commit voids
them, a merge needs its own approval and green tests on the merged head."""

import sys
from pathlib import Path

import pytest

from coding.approvals import ApprovalRefused
from coding.driver import handle_one_run
from coding.models import CodingApproval
from coding.operations import approve_run
from opscore.models import Event
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
    with pytest.raises(ApprovalRefused, match="the branch moved"):
        approve_run(run, "merge", by="ana")


def test_a_commit_pushed_after_the_last_pass_is_never_approved_untested(coding_repo):
    """The approval would pair a commit no pass tested with the last pass's green tests."""
    run = reviewed(coding_repo, allow_merge=True)
    tested = run.head_sha
    Path(run.worktree_path, "app.py").write_text("print('sneaky')\n")
    sh(*COMMIT, "after review", cwd=run.worktree_path)

    for _attempt in range(2):
        with pytest.raises(ApprovalRefused, match="no pass has tested it"):
            approve_run(run, "code", by="ana")
        run.refresh_from_db()

    assert run.head_sha == tested and not CodingApproval.objects.exists()


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
    coding_repo.test_command = [sys.executable, "-c", "raise SystemExit(3)"]  # approved red
    coding_repo.save()
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")

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

    page = admin_client.get(f"{url}{run.id}/change/").content.decode()
    digest = run.approval_digest("code")
    assert f'name="digest" value="{digest}"' in page
    response = admin_client.post(
        f"{url}{run.id}/approve/", {"kind": "code", "digest": digest}, follow=True
    )

    assert f"R{run.id}: code approved." in response.content.decode()
    assert CodingApproval.objects.get().sha == run.head_sha
    assert "print(&#x27;hello, world&#x27;)" in page


@pytest.mark.parametrize("attributes", ["*.py -diff", "*.py binary"])
def test_the_diff_shown_for_approval_ignores_attributes_that_would_hide_it(
    coding_repo, admin_client, attributes
):
    # a merged .gitattributes (`*.min.js binary` is common) would show a changed file as
    # "Binary files differ" to the approver and the reviewing model
    Path(coding_repo.path, ".gitattributes").write_text(f"{attributes}\n")
    sh("git", "add", ".gitattributes", cwd=coding_repo.path)
    sh(*COMMIT, "attributes", cwd=coding_repo.path)
    run = reviewed(coding_repo, "@greet")

    page = admin_client.get(f"/admin/coding/codingrun/{run.id}/change/").content.decode()

    assert "Binary files" not in page
    assert "print(&#x27;hello, world&#x27;)" in page


def staff(name, *perms):
    """A signed-in person holding exactly `perms` (through a group, as operators are)."""
    from django.contrib.auth.models import Group, Permission, User

    user = User.objects.create_user(name, password="pw-123456789", is_staff=True)
    group = Group.objects.create(name=f"{name}-group")
    for perm in [*perms, "coding.view_codingrun"]:
        app_label, codename = perm.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    user.groups.add(group)
    return user


def approve_from_page(client, run, kind):
    url = f"/admin/coding/codingrun/{run.id}/"
    page = client.get(f"{url}change/").content.decode()
    run.refresh_from_db()
    data = {"kind": kind, "digest": run.approval_digest(kind)}
    return page, client.post(f"{url}approve/", data, follow=True).content.decode()


def test_approving_a_merge_after_the_branch_moved_is_refused_and_recorded(coding_repo):
    from opscore.models import Event

    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    Path(run.worktree_path, "app.py").write_text("print('sneaky')\n")
    sh(*COMMIT, "after review", cwd=run.worktree_path)

    with pytest.raises(ApprovalRefused):
        approve_run(run, "merge", by="ana")

    refused = Event.objects.get(kind="coding.approval_refused")
    assert "the branch moved" in refused.summary and refused.actor == "human:ana"


def test_only_a_release_manager_approves_a_merge_and_the_page_says_who_may(client, coding_repo):
    run = reviewed(coding_repo, allow_merge=True)
    CodingApproval.objects.create(run=run, kind="code", sha=run.head_sha, approved_by="ana")
    client.force_login(staff("bob", "coding.approve_code"))

    page, answer = approve_from_page(client, run, "merge")

    assert "needs: can approve merges — bob can&#x27;t" in page
    assert "Not approved: needs: can approve merges" in answer
    assert not CodingApproval.objects.filter(kind="merge").exists()
    client.force_login(staff("cy", "coding.approve_merge"))
    approve_from_page(client, run, "merge")
    merge = CodingApproval.objects.get(kind="merge")
    assert merge.approved_by == "cy" and merge.test_run == run.last_test_run()
    assert merge.content_digest == run.approval_digest("merge")


def test_the_author_of_a_dev_job_cannot_approve_its_code_even_as_a_superuser(
    client, coding_repo, operator
):
    from coding.models import CodingRun
    from missions.models import Proposal
    from tests.factories import make_step

    run = reviewed(coding_repo)
    step = make_step("noop")
    CodingRun.objects.filter(pk=run.pk).update(step=step)
    Proposal.objects.filter(pk=step.mission.proposal_id).update(operator=operator)
    client.force_login(operator)

    _page, answer = approve_from_page(client, run, "code")

    assert "operator proposed this" in answer
    assert not CodingApproval.objects.exists()


def test_a_merge_whose_task_changed_after_approval_is_refused(coding_repo):
    from coding.models import CodingRun
    from opscore.models import Event

    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    task = run.task | {"summary": "something else entirely"}
    CodingRun.objects.filter(pk=run.pk).update(task=task)

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and not run.merged_sha
    assert "changed since the merge was approved" in run.reason
    assert Event.objects.filter(summary__contains="changed since the merge was approved").exists()


def test_a_merge_whose_test_command_changed_after_approval_is_refused(coding_repo):
    # the merge's gate is the repository's tests on the merged head: a test command swapped
    # for `true` after the approvals (anyone who may edit the repository) merged untested
    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    coding_repo.test_command = [sys.executable, "-c", "pass"]
    coding_repo.save()

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and not run.merged_sha
    assert "changed since the merge was approved" in run.reason


@pytest.mark.parametrize(
    "edit",
    [
        {"limits": {"harness_timeout_seconds": 6 * 3600}},  # the merged head's tests' time
        {"limits": {"max_changed_files": 1000}},
        {"runner": "claude-code"},
        {"mode": "single-shot"},
    ],
    ids=["time-budget", "files", "runner", "mode"],
)
def test_a_merge_whose_caps_or_harness_changed_after_approval_is_refused(coding_repo, edit):
    """The run's page shows its caps (limits) and harness beside what an approval binds; one
    edited after the approvals (the row by hand, a bug) merged under caps nobody approved."""
    from coding.models import CodingRun

    run = reviewed(coding_repo, allow_merge=True)
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    changed = {k: run.limits | v if k == "limits" else v for k, v in edit.items()}
    CodingRun.objects.filter(pk=run.pk).update(**changed)

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and not run.merged_sha
    assert "changed since the merge was approved" in run.reason
    assert CodingApproval.objects.get(kind="merge").voided_at is not None


def test_a_runs_bookkeeping_is_not_a_cap_an_approval_binds(coding_repo):
    """Passes and spend counted since a retry are the run's progress, not what was approved."""
    run = reviewed(coding_repo)
    before = run.approval_digest("code")
    run.limits |= {"first_iteration": 4, "cost_before": "1.5", "active_seconds": 99}

    assert run.approval_digest("code") == before


def test_approving_the_same_head_again_changes_nothing_and_says_so(coding_repo):
    from io import StringIO

    from django.core.management import call_command

    from opscore.models import Event

    run = reviewed(coding_repo)
    staff("cy", "coding.approve_code")

    def approve_code():
        out = StringIO()
        call_command("coding", "approve", str(run.id), "--kind", "code", "--as", "cy", stdout=out)
        return out.getvalue()

    first, second = approve_code(), approve_code()

    assert f"R{run.id}: code approved at {run.head_sha[:10]}" in first
    assert second.startswith(f"R{run.id}: code was already approved at {run.head_sha[:10]} by ")
    assert "nothing changed" in second and "completed" in second
    assert Event.objects.filter(kind="coding.approved.code").count() == 1
    assert Event.objects.filter(kind="coding.run.completed").count() == 1
    assert CodingApproval.objects.count() == 1


def test_the_admin_says_a_second_approval_of_the_same_head_changed_nothing(
    coding_repo, admin_client
):
    from opscore.models import Event

    run = reviewed(coding_repo)
    approve_from_page(admin_client, run, "code")

    _page, answer = approve_from_page(admin_client, run, "code")

    assert f"R{run.id}: code was already approved at {run.head_sha[:10]} by operator" in answer
    assert Event.objects.filter(kind="coding.approved.code").count() == 1


def test_a_change_quoting_a_secret_is_shown_masked_and_cannot_be_approved(
    coding_repo, admin_client, settings
):
    """The approver reads [redacted] where the change quotes a secret of the environment; an
    approval of what they read would merge the secret they never saw. Refused, with why."""
    settings.OPS_MASTODON_TOKEN = "hello, world"  # what the harness writes into app.py
    run = reviewed(coding_repo, "@greet", allow_merge=True)

    page = admin_client.get(f"/admin/coding/codingrun/{run.id}/change/").content.decode()
    with pytest.raises(ApprovalRefused, match="quotes a secret"):
        approve_run(run, "code", by="ana")

    assert "print(&#x27;[redacted]&#x27;)" in page and "hello, world" not in page
    assert not CodingApproval.objects.exists()
    refused = Event.objects.get(kind="coding.approval_refused")
    assert "[redacted]" in refused.summary and "revis" in refused.summary
    assert "hello, world" not in refused.summary
