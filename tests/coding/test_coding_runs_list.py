"""`coding runs` prints a run's reason whole, or cut between words with a mark that more is
there (`--json` has it all): it cut at 80 characters mid-word, so a completed run read
'branch opscore/1-greet-the-world kept (no merge all'."""

from io import StringIO

import pytest
from django.core.management import call_command

from coding.models import CodingRun
from tests.coding_support import new_run

pytestmark = pytest.mark.django_db


def runs_listed() -> str:
    out = StringIO()
    call_command("coding", "runs", stdout=out)
    return out.getvalue()


def test_a_runs_reason_is_listed_whole(git_repo):
    run = new_run(git_repo, "@greet")
    kept = "code approved at cc85711809; branch opscore/1-greet-the-world kept (no merge allowed)"
    CodingRun.objects.filter(pk=run.pk).update(reason=kept)

    assert runs_listed().rstrip().endswith(kept)


def test_a_long_reason_is_cut_between_words_and_says_so(git_repo):
    run = new_run(git_repo, "@greet")
    words = [f"failure{n}" for n in range(40)]
    CodingRun.objects.filter(pk=run.pk).update(reason=" ".join(words))

    line = runs_listed().rstrip().splitlines()[-1]

    *shown, mark = line.split("$0.0000")[1].split()
    assert mark == "…" and shown == words[: len(shown)] and 10 < len(shown) < 40
