"""`coding runs` prints a run's reason whole, or cut between words with a mark that more is
there (`--json` has it all): it cut at 80 characters mid-word, so a completed run read
'branch opscore/1-greet-the-world kept (no merge all'. `coding drive` ends saying what it moved
(it printed 'coding driver: 1', or 'coding driver: True' with --once)."""

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


def test_the_driver_says_what_it_moved_when_it_stops(git_repo):
    drove = StringIO()
    call_command("coding", "drive", "--seconds", "0", stdout=drove)
    once = StringIO()
    call_command("coding", "drive", "--once", stdout=once)

    said = "(merged, adopted or driven to rest)"
    assert drove.getvalue() == f"coding driver: stopped after 0 run move(s) {said}\n"
    assert once.getvalue() == f"coding driver: nothing to move {said}\n"
