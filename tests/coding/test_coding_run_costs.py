"""What a coding run costs around its harness is counted, so a regression shows: a box start
compiles nothing and imports only what building the box needs (egress's modules only for a
run with egress), and a drive reads its repository row once, not again after every move of
the run."""

import marshal
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coding import confine, jail, loopback
from coding.box import BOOT, hand_over, jail_code, jail_command, jail_env
from coding.driver import handle_one_run, let_go, start_next
from coding.models import CodingRun
from coding.sandbox import confinement_missing
from coding.spare import STANDING
from coding.stint import add_active_time
from opscore.overrides import apply_override
from tests.coding_support import new_run, watch_starts
from tests.processes import ROOT

# The box builder's start as LAUNCH makes it, short of main(): jail.py runs as a module.
IMPORTED = f"""
import sys
before = set(sys.modules)
{BOOT.format(name="jail")}
print(" ".join(sorted(set(sys.modules) - before)))
"""
SEEN_FROM_INSIDE = """
import ctypes, sys
print(ctypes.__file__)
print(sys.flags.isolated, sys.flags.no_site, *sys.path)
"""


def modules_a_box_start_imports() -> set[str]:
    """What the box builder's own imports load, run as the box runs it (-I -S, its code
    objects in the environment) short of main()."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORTED],
        env={"OPS_BOX_JAIL": jail_code()},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def test_a_box_start_imports_neither_egress_modules_nor_json():
    imported = modules_a_box_start_imports()

    assert not imported & {*loopback.EGRESS_MODULES, "json", "re", "platform"}, imported
    assert "ctypes" in imported  # the test sees the jail's imports at all


def test_a_box_start_imports_no_more_than_building_the_box_needs():
    imported = modules_a_box_start_imports()

    # `signal` (not `_signal`) pulled in enum, functools and collections: a quarter of a start
    assert not imported & {"signal", "enum", "functools", "collections"}, imported


def test_a_box_start_compiles_no_jail_source_it_runs_the_drivers_code_objects():
    modules, code = marshal.loads(bytes.fromhex(jail_env({})["OPS_BOX_JAIL"]))

    assert code.co_filename == str(Path(jail.__file__).resolve())
    shipped = {name: code.co_filename for name, code in modules}
    assert shipped == {m.__name__: str(Path(m.__file__).resolve()) for m in (confine, loopback)}
    assert not any(str(Path(jail.__file__).parent) in arg for arg in jail_command())


def test_a_box_start_takes_every_module_from_the_standard_library():
    probe = marshal.dumps(([], compile(SEEN_FROM_INSIDE, "probe", "exec"))).hex()

    done = subprocess.run(
        jail_command(), env={"OPS_BOX_JAIL": probe}, capture_output=True, text=True, check=True
    )

    ctypes_file, flags = done.stdout.splitlines()
    isolated, no_site, *path = flags.split()
    assert Path(ctypes_file).is_relative_to(Path(sys.base_prefix))
    assert (isolated, no_site) == ("1", "1")
    assert "" not in path  # not the current directory either
    assert not any(Path(p).is_relative_to(ROOT) for p in path)  # the checkout shadows none


def test_the_box_spec_survives_its_handover_whole():
    spec = {"argv": ["python", "-c", "print('é')"], "uid": None, "limits": {"core": 0}}

    assert jail.decode_spec(jail.encode_spec(spec)) == spec
    assert "\0" not in jail.encode_spec(spec)  # it travels in an environment variable


def proven_single_shot(coding_repo):
    """A single-shot run driven to its review, and the queries that took."""
    run = new_run(coding_repo, "@greet", mode="single-shot")
    with CaptureQueriesContext(connection) as queries:
        assert handle_one_run()
    run.refresh_from_db()
    return run, queries


@pytest.mark.django_db(transaction=True)
def test_a_proven_single_shot_run_reads_no_repository_row_of_its_own(coding_repo):
    run, queries = proven_single_shot(coding_repo)

    assert run.status == "waiting_for_review"
    rereads = [q["sql"] for q in queries if q["sql"].startswith('SELECT "coding_repository"')]
    assert rereads == []  # the dispatcher's select_related row serves the whole drive


@pytest.mark.django_db(transaction=True)
def test_a_pass_starts_the_box_builder_once_for_its_harness_and_its_tests(coding_repo, monkeypatch):
    confinement_missing()  # probed once a process: the probe's box is no pass's
    launches = []
    box_builder = jail_command()
    watch_starts(
        monkeypatch, after=lambda process, argv: launches.extend([process] * (argv == box_builder))
    )
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    assert "tests passed" in run.iterations.get().test_output
    used, waiting = launches  # the pass's, and the next pass's started while it ran
    assert used.poll() is not None and waiting is STANDING["spare"].process


@pytest.mark.django_db(transaction=True)
def test_a_chained_pass_records_its_launch_once_and_clears_it_once(coding_repo):
    run, queries = proven_single_shot(coding_repo)

    assert run.status == "waiting_for_review" and run.process_group is None
    kept = '"process_group" = "coding_codingrun"."process_group"'  # the harness's row update
    groups = [q["sql"] for q in queries if '"process_group" =' in q["sql"] and kept not in q["sql"]]
    assert len(groups) == 2, groups  # set for the launch, cleared after the tests


@pytest.mark.django_db(transaction=True)
def test_a_runs_first_launch_is_recorded_by_its_start_not_a_statement_of_its_own(coding_repo):
    run, queries = proven_single_shot(coding_repo)  # its spare started before the pick

    assert run.status == "waiting_for_review", run.reason
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "coding_codingrun"')]
    alone = [
        sql
        for sql in updates
        if re.match(r'UPDATE "coding_codingrun" SET "process_group" = \d+ WHERE', sql)
    ]
    started = next(sql for sql in updates if '"started_at"' in sql)
    assert alone == [] and '"process_group"' in started, updates


@pytest.mark.django_db(transaction=True)
def test_a_run_refused_before_its_launch_keeps_no_process_group(coding_repo):
    coding_repo.runners = ["claude-code"]
    coding_repo.save()
    run = new_run(coding_repo, "@greet", mode="single-shot")
    handle_one_run()  # its spare started before the pick, its group recorded by the start

    run.refresh_from_db()
    assert run.status == "failed" and "may not touch this repo" in run.reason
    assert run.process_group is None


@pytest.mark.django_db
def test_a_refreshed_run_sees_its_own_row_afresh_and_keeps_its_repository(coding_repo):
    run = CodingRun.objects.select_related("repository").get(pk=new_run(coding_repo, "x").pk)
    CodingRun.objects.filter(pk=run.pk).update(reason="moved elsewhere")

    with CaptureQueriesContext(connection) as queries:
        run.refresh_from_db()
        name = run.repository.name

    assert run.reason == "moved elsewhere" and name == coding_repo.name
    assert len(queries) == 1


@pytest.mark.django_db
def test_a_drive_adds_its_active_time_in_one_statement(coding_repo):
    run = new_run(coding_repo, "x")
    run.limits |= {"active_seconds": 600}
    run.save(update_fields=["limits"])
    stint = time.monotonic()

    with CaptureQueriesContext(connection) as queries:
        add_active_time(run, stint)

    run.refresh_from_db()
    assert len(queries) == 1
    assert 600 <= run.limits["active_seconds"] < 660
    assert run.limits["max_iterations"]  # the other caps stay as they were


@pytest.mark.django_db
def test_a_dispatch_reads_the_active_runs_once_and_counts_none(coding_repo):
    coding_repo.max_concurrent_runs = 2
    coding_repo.save()
    new_run(coding_repo, "already running").move("running")
    waiting = new_run(coding_repo, "next")

    with CaptureQueriesContext(connection) as queries:
        started = start_next()

    let_go(started.id)
    assert started == waiting
    reads = [q["sql"] for q in queries if q["sql"].startswith('SELECT "coding_codingrun"')]
    assert not [q for q in queries if "COUNT(" in q["sql"]]
    assert len(reads) == 2  # the active runs, the waiting ones: the move's UPDATE returns
    assert started.status == "running" and started.started_at is not None  # the row it wrote


@pytest.mark.django_db
def test_a_turn_reads_the_merges_the_active_runs_and_the_queue_in_one_statement(coding_repo):
    held_back = new_run(coding_repo, "held back by the repository's limit")
    coding_repo.max_concurrent_runs = 0
    coding_repo.save()

    with CaptureQueriesContext(connection) as queries:
        assert not handle_one_run()

    sent = [q["sql"] for q in queries]
    locked = next(n for n, sql in enumerate(sent) if "opscore.coding.dispatch" in sql)
    runs = [sql for sql in sent[:locked] if '"coding_codingrun"' in sql]
    assert len(runs) == 1  # merges waiting, active runs (orphans?), whether any run waits
    held_back.refresh_from_db()
    assert held_back.status == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_run_reads_the_lane_switch_and_the_coding_policy_with_the_turns_look(coding_repo):
    run, queries = proven_single_shot(coding_repo)

    assert run.status == "waiting_for_review", run.reason
    own = [q["sql"] for q in queries if q["sql"].startswith('SELECT "opscore_policy"')]
    assert own == []  # both ride on the look, before the dispatch lock


@pytest.mark.django_db
def test_a_paused_coding_lane_starts_nothing_on_a_turn_of_one_statement(coding_repo):
    waiting = new_run(coding_repo, "@greet", mode="single-shot")
    apply_override("pause-lane", "coding", reason="quiet week", actor="operator:ana")

    with CaptureQueriesContext(connection) as queries:
        assert not handle_one_run()

    waiting.refresh_from_db()
    assert waiting.status == "queued"
    assert len(queries) == 1


@pytest.mark.django_db(transaction=True)
def test_a_runs_first_commit_for_review_voids_nothing_as_it_has_nothing_approved(coding_repo):
    run, queries = proven_single_shot(coding_repo)

    assert run.status == "waiting_for_review" and run.head_sha, run.reason
    assert not [q for q in queries if q["sql"].startswith('UPDATE "coding_codingapproval"')]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands a tree to another uid")
def test_a_tree_handed_over_again_changes_only_what_is_not_the_sandboxs(tmp_path, monkeypatch):
    tree, uid = tmp_path / "tree", 4242
    (tree / "src").mkdir(parents=True)
    for name in ("app.py", "src/lib.py"):
        (tree / name).write_text("print('hello')\n")
    hand_over([tree], uid, uid)
    (tree / "src" / "new.py").write_text("written by the driver's git\n")
    changed, chown = [], os.chown

    def counted(path, *ids, **how):
        changed.append(str(path))
        chown(path, *ids, **how)

    monkeypatch.setattr(os, "chown", counted)

    hand_over([tree], uid, uid)

    assert changed == [str(tree / "src" / "new.py")]  # not every inode of the tree again
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in [tree, *tree.rglob("*")]}
    assert owners == {(uid, uid)}


@pytest.mark.django_db(transaction=True)
def test_a_pass_looks_at_its_boxes_read_only_mounts_once_for_its_harness_and_its_tests(
    coding_repo, monkeypatch
):
    from coding import gitview

    looked, real = [], gitview.git_dirs
    monkeypatch.setattr(gitview, "git_dirs", lambda tree: looked.append(tree) or real(tree))

    run, _ = proven_single_shot(coding_repo)

    assert run.status == "waiting_for_review", run.reason
    tree = Path(run.worktree_path)
    assert [t for t in looked if t == tree] == [tree]  # once a launch, not once a box


def test_a_tests_box_shows_what_it_showed_when_it_looked_for_itself(tmp_path):
    from coding.box import box_spec, shared_mounts
    from coding.chain import Chained
    from coding.sandbox import Limits

    tree, home, folder = (tmp_path / name for name in ("tree", "home", "box"))
    for path in (tree, home, folder):
        path.mkdir()
    tests = Chained("tests", ["true"], Limits())
    spec = tests.spec(tree, home, folder, shared=shared_mounts(tree, None))
    tests.stream.close(), tests.go.close()

    alone = box_spec(["true"], tree, home, folder, Limits(), spec["env"], None, True, "tests")
    assert {k: v for k, v in spec.items() if k not in ("out", "go")} == alone
    os.close(spec["out"]), os.close(spec["go"])


@pytest.mark.django_db
def test_the_lanes_loop_reads_the_lane_switch_with_its_turns_look_not_before_it(coding_repo):
    from coding.driver import drive_one

    with CaptureQueriesContext(connection) as alone:
        handle_one_run()
    with CaptureQueriesContext(connection) as looped:
        assert drive_one() == {"ran": False}

    assert len(looped) == len(alone)
    apply_override("pause-lane", "coding", reason="quiet week", actor="operator:ana")
    with CaptureQueriesContext(connection) as paused:
        assert drive_one() == {"paused": "coding"}
    assert len(paused) == 1


@pytest.mark.django_db(transaction=True)
def test_a_passs_summaries_and_time_ride_on_its_runs_move_to_review(coding_repo):
    run, queries = proven_single_shot(coding_repo)

    assert run.status == "waiting_for_review" and run.process_group is None, run.reason
    assert run.test_summary.startswith("tests passed") and run.limits["active_seconds"] > 0
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "coding_codingrun"')]
    after_tests = [sql for sql in updates if '"test_summary" = ' in sql]
    assert len(after_tests) == 1 and "'waiting_for_review'" in after_tests[0], updates
    assert len(updates) == 4, updates  # started, its worktree, on to its tests, to review
