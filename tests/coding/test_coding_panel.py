"""The Stage's Coding panel: runs by state with their passes and cost, and the WIP limits."""

import pytest

from coding.driver import handle_one_run
from tests.coding_support import new_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_panel_shows_runs_by_state_with_passes_and_the_wip_count(client, coding_repo):
    reviewed = new_run(coding_repo, "@greet")
    handle_one_run()
    new_run(coding_repo, "@greet")  # waits: one run per repository

    page = client.get("/stage/coding").content.decode()
    fragment = client.get("/stage/coding", headers={"HX-Request": "true"}).content.decode()

    assert f'id="coding-run-{reviewed.id}"' in page and "Waiting for review" in page
    assert "tests passed" in page and "<b>1</b> for app" in page
    assert "<html" not in fragment and "Running <b>0</b> of 2" in fragment
    assert "No coding runs yet" not in page


def test_a_run_its_agent_signed_off_shows_in_the_approvals_inbox(client, coding_repo):
    from coding.models import CodingRun

    run = new_run(coding_repo, "@greet", allow_merge=True)
    handle_one_run()
    run.refresh_from_db()
    signed = {"decision": "complete", "by": "devops", "sha": run.head_sha}  # as a review leaves it
    CodingRun.objects.filter(pk=run.pk).update(review=signed)

    panel = client.get("/stage/approvals").content.decode()

    assert f'id="coding-approval-{run.id}"' in panel
    assert "approve the code, then the merge in the admin" in panel


def test_the_inbox_says_who_may_approve_a_signed_off_run(client, coding_repo):
    from django.contrib.auth.models import Permission, User

    from coding.models import CodingRun

    run = new_run(coding_repo, "@greet", allow_merge=True)
    handle_one_run()
    run.refresh_from_db()
    signed = {"decision": "complete", "by": "devops", "sha": run.head_sha}
    CodingRun.objects.filter(pk=run.pk).update(review=signed)
    bob = User.objects.create_user("bob", password="pw-123456789", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="approve_code"))
    client.force_login(bob)

    panel = client.get("/stage/approvals").content.decode()

    assert "needs: can approve code — you may" in panel
    assert "needs: can approve merges — bob can&#x27;t" in panel
