"""`coding cancel ID --reason …` keeps the reason as every reason is kept
(opscore.text.checked_reason): a reason of nothing but hidden characters, or past 500
characters, is refused in one line and the run goes on; the reason was stored as given (cut
only at 2000 with the run's own words), so a cancel could say nothing visible, or megabytes."""

import re

import pytest
from django.core.management import CommandError, call_command

from coding.models import CodingRun
from opscore.models import Event
from tests.coding_support import new_run

pytestmark = pytest.mark.django_db


def cancel(run, reason):
    call_command("coding", "cancel", str(run.id), "--reason", reason)


def still_queued(run) -> bool:
    cancelled = Event.objects.filter(kind="coding.run.cancelled").exists()
    return CodingRun.objects.get(pk=run.pk).status == "queued" and not cancelled


@pytest.mark.parametrize(
    "reason, said",
    [
        ("\u200b\u202e", "a cancel needs a reason"),
        ("r" * 501, "a reason is at most 500 characters (501 given)"),
    ],
    ids=["hidden characters only", "501 characters"],
)
def test_a_cancel_reason_refused_leaves_the_run_going(git_repo, reason, said):
    run = new_run(git_repo, "@greet")

    with pytest.raises(CommandError, match=rf"^{re.escape(said)}$"):
        cancel(run, reason)

    assert still_queued(run)


def test_a_cancel_reason_of_500_characters_is_kept_whole(git_repo):
    run = new_run(git_repo, "@greet")

    cancel(run, "r" * 500 + "\u200b")

    run.refresh_from_db()
    assert (run.status, run.reason) == ("cancelled", "cancelled by cli: " + "r" * 500)
