"""`coding runs` prints a run's reason whole, or cut between words with a mark that more is
there (`--json` has it all): it cut at 80 characters mid-word, so a completed run read
'branch opscore/1-greet-the-world kept (no merge all'. `coding drive` ends saying what it moved
(it printed 'coding driver: 1', or 'coding driver: True' with --once). `coding show` ends with
the approve line to paste, and it ran only with `opscore` on PATH, which a checkout does not put
there: it is written `.venv/bin/opscore …`, as the README writes every command."""

from io import StringIO

import pytest
from django.core.management import call_command

from coding.management.commands.coding import shown_lines
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


def test_the_approve_line_coding_show_prints_runs_as_pasted(git_repo):
    run = new_run(git_repo, "@greet")
    digest = "d" * 64
    card = {"task": {}, "deploy_plan": None, "diff": "", "test_run": 1, "tests": "tests passed"}
    card |= {"digests": {"code": digest}, "why_not": {"code": ""}, "checks": {}}
    card |= {"harness": {"runner": "command", "mode": "ralph-loop"}, "caps": {}}

    line = shown_lines(run, card)[-1]

    assert (
        line
        == f"  .venv/bin/opscore coding approve {run.id} --kind code --digest {digest} --as USER"
    )
