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
