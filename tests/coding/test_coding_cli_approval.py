"""`coding approve` from a terminal decides as a named person, as `proposal approve` does:
four-eyes holds (that person's permission for the kind, never the job's author), and with
`--digest` only what `coding show` printed is approved. Before, the CLI approved as the OS
account with no permission check, so a dev job's author approved their own code unseen."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from coding.models import CodingApproval, CodingRun
from tests.coding.test_coding_approvals import reviewed, staff

pytestmark = pytest.mark.django_db(transaction=True)


def coding(*args) -> str:
    out = StringIO()
    call_command("coding", *args, stdout=out)
    return out.getvalue()


def authored_by(run: CodingRun, user) -> None:
    from missions.models import Proposal
    from tests.factories import make_step

    step = make_step("noop")
    CodingRun.objects.filter(pk=run.pk).update(step=step)
    Proposal.objects.filter(pk=step.mission.proposal_id).update(operator=user)


def test_an_approval_from_the_terminal_names_who_decides(coding_repo):
    run = reviewed(coding_repo)

    with pytest.raises(CommandError, match="--as"):
        coding("approve", str(run.id), "--kind", "code")

    assert not CodingApproval.objects.exists()


def test_the_author_of_a_dev_job_cannot_approve_its_code_from_the_terminal(coding_repo):
    run = reviewed(coding_repo)
    ann = staff("ann", "coding.approve_code")
    authored_by(run, ann)

    with pytest.raises(CommandError, match="ann proposed this") as refused:
        coding("approve", str(run.id), "--kind", "code", "--as", "ann")

    assert refused.value.returncode == 2
    assert not CodingApproval.objects.exists()


def test_the_terminal_holds_the_permission_a_kind_needs(coding_repo):
    run = reviewed(coding_repo)
    staff("bob", "coding.approve_merge")

    with pytest.raises(CommandError, match="needs: can approve code — bob can't"):
        coding("approve", str(run.id), "--kind", "code", "--as", "bob")
    with pytest.raises(CommandError, match="no active user 'nobody'"):
        coding("approve", str(run.id), "--kind", "code", "--as", "nobody")

    assert not CodingApproval.objects.exists()


def test_show_prints_what_an_approval_binds_and_the_digest_approves_only_that(coding_repo):
    run = reviewed(coding_repo)
    staff("cy", "coding.approve_code")
    shown = coding("show", str(run.id))
    digest = json.loads(coding("--json", "show", str(run.id)))["digests"]["code"]

    assert f"{run.base_sha[:10]}..{run.head_sha[:10]}" in shown and "+++ b/app.py" in shown
    assert f"--kind code --digest {digest}" in shown and digest == run.approval_digest("code")
    with pytest.raises(CommandError, match="changed after it was shown to you"):
        coding("approve", str(run.id), "--kind", "code", "--as", "cy", "--digest", "0" * 64)
    assert not CodingApproval.objects.exists()

    said = coding("approve", str(run.id), "--kind", "code", "--as", "cy", "--digest", digest)

    assert f"code approved at {run.head_sha[:10]}" in said
    approval = CodingApproval.objects.get()
    assert approval.approved_by == "cy" and approval.content_digest == digest


def test_show_refuses_a_run_that_does_not_exist(coding_repo):
    with pytest.raises(CommandError, match="no coding run 999999") as refused:
        coding("show", "999999")

    assert refused.value.returncode == 2


def test_show_prints_no_terminal_control_a_harness_or_a_task_could_hide_lines_with(coding_repo):
    run = reviewed(coding_repo)
    hiding = "\x1b[1A\x1b[2K"  # cursor up, erase the line: the line above would vanish
    CodingRun.objects.filter(pk=run.pk).update(task=run.task | {"summary": f"fine{hiding}"})
    run.iterations.update(test_output=f"tests passed\r{hiding}all good")

    shown = coding("show", str(run.id))

    assert "\x1b" not in shown and "\r" not in shown
    assert "fine⟨U+001B⟩[1A" in shown and "tests passed⟨U+000D⟩" in shown


def test_show_prints_the_caps_and_harness_the_digest_binds(coding_repo):
    run = reviewed(coding_repo)
    shown = json.loads(coding("--json", "show", str(run.id)))
    text = coding("show", str(run.id))

    assert shown["harness"] == {"runner": "command", "mode": "ralph-loop"}
    assert shown["caps"]["max_changed_files"] == run.limits["max_changed_files"]
    assert "first_iteration" not in shown["caps"]
    assert "harness: command (ralph-loop); caps:" in text and '"max_iterations"' in text
    CodingRun.objects.filter(pk=run.pk).update(limits=run.limits | {"max_iterations": 50})
    run.refresh_from_db()
    assert run.approval_digest("code") != shown["digests"]["code"]
