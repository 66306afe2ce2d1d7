"""An approval the repository cannot answer for (its branch deleted by hand, a commit gone) is
a refused approval like any other: one `coding.approval_refused` event with git's reason, and
the page says why. It was the one refusal that left no row, only the page's message."""

import pytest

from coding.driver import handle_one_run
from coding.models import CodingApproval
from opscore.models import Event
from tests.coding_support import new_run
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_approval_of_a_branch_deleted_by_hand_is_refused_with_a_row(coding_repo, admin_client):
    run = new_run(coding_repo, "@greet")
    assert handle_one_run()
    run.refresh_from_db()
    page = admin_client.get(f"/admin/coding/codingrun/{run.id}/change/").content.decode()
    digest = run.approval_digest("code")
    assert f'name="digest" value="{digest}"' in page
    sh("git", "update-ref", "-d", f"refs/heads/{run.branch}", cwd=coding_repo.path)

    approve = {"kind": "code", "digest": digest}
    answer = admin_client.post(f"/admin/coding/codingrun/{run.id}/approve/", approve, follow=True)

    refused = Event.objects.get(kind="coding.approval_refused")
    assert answer.status_code == 200 and "Not approved:" in answer.content.decode()
    assert refused.summary.startswith(f"git could not read R{run.id}'s branch or commit: git ")
    assert refused.payload["kind"] == "code"
    assert not CodingApproval.objects.exists()
