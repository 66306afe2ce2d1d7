"""A link the harness leaves is committed as its text, and read from wherever the tree is
checked out: the merged main checkout, a reviewer's, a deploy's. One that leads out of the
tree anywhere but here — its absolute path on this machine, or up out of the tree and back in
through the folder it sits in here (`../tree/…`) — fails the pass before its tests run, as a
link out of the tree here does."""

import pytest

from coding.driver import handle_one_run
from coding.sandbox import confinement_missing
from tests.coding_support import new_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(confinement_missing()),
        reason=f"this kernel cannot build the box: {confinement_missing()}",
    ),
]


@pytest.mark.parametrize("link", ["roundabout", "pinned"])
def test_a_link_out_of_the_tree_in_any_other_checkout_fails_the_pass(coding_repo, link):
    run = new_run(coding_repo, f"@greet @{link}", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and not run.head_sha, run.reason
    assert f"symlink pointing outside its worktree: {link}" in run.reason, run.reason
    assert run.iterations.get().tests_passed is None  # no go: nothing it wrote ran again


def test_a_link_that_stays_in_the_tree_is_part_of_the_change(coding_repo):
    run = new_run(coding_repo, "@greet @inward", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    assert "docs/app.py" in run.diff_stats["files"]
