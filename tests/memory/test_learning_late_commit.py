"""The outcome learner's cursor passed an ending whose transaction committed after a later
event's: that step or mission was never learned from."""

import pytest

from memory.learning import learn_from_endings
from tests.late_commit import held_and_quick, settle

pytestmark = pytest.mark.django_db(transaction=True)
FAR = 10**9  # a deadline that never passes


def test_an_ending_committed_after_a_later_one_is_still_learned_from():
    other, held_id, _ = held_and_quick(True, "step.failed")
    try:
        first = learn_from_endings(FAR)["events"]
        other.commit()
    finally:
        other.close()
    settle(held_id)

    assert first + learn_from_endings(FAR)["events"] == 2
