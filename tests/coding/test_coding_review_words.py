"""The offline reviewer's one line says what changed in words a person reads."""

from types import SimpleNamespace

import pytest

from coding.review import offline_reason


@pytest.mark.parametrize(
    ("changed", "said"),
    [(1, "1 file changed (+3 -1)"), (2, "2 files changed (+3 -1)"), (0, "0 files changed")],
)
def test_the_offline_review_counts_files_in_words(changed, said):
    run = SimpleNamespace(diff_stats={"changed": changed, "insertions": 3, "deletions": 1})

    assert said in offline_reason(run)
