"""The coding lane's own cost: what Opscore adds around a harness pass (worktree, boxed
process, checks, escape look, diff hash, rows and events), against the same work done by hand
in the same run, and dispatch under a storm of submissions.

    .venv/bin/python bench/coding.py [--runs 10]

Prints the median ms of a hand-rolled pass (git worktree add + harness + test command) and of
an Opscore single-shot run doing the same (taken in turns), their ratio, the ms per ralph-loop
pass, and how many of 50 runs queued at once 8 dispatchers started (must equal the WIP
limit). The floor lines are confinement's own price, measured in the same run: `true` started
twice bare, and in a pass's two boxes (harness, then tests, built by one launch) that the
by-hand pass does not have, started cold; a run hides part of it behind its own work (its box
builder waits already, started while the run before ran its harness; each box is built while
the driver looks around). The second line boxes the pass's own commands instead of `true`:
what confinement also costs a command while it runs (Landlock and the seccomp filter on every
path it opens and every call it makes).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, setup_bench_database

# The interpreter by its real place: a checkout whose .venv is a link to another's has
# sys.executable under the link, which the box (binding sys.prefix resolved) does not show,
# and every run would fail at once with nothing compared.
PYTHON = str(Path(sys.prefix).resolve() / Path(sys.executable).relative_to(sys.prefix))
HARNESS = [PYTHON, str(Path(__file__).parent.parent / "tests/fake_harness/edit_and_report.py")]
GIT = ["git", "-c", "user.email=b@b", "-c", "user.name=b"]


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "app.py").write_text("print('hello')\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


def by_hand(repo: Path, root: Path, n: int) -> float:
    tree = root / "by-hand" / f"t{n}"
    start = time.perf_counter()
    subprocess.run(
        ["git", "worktree", "add", "-q", "-b", f"hand-{n}", str(tree), "main"], cwd=repo, check=True
    )
    subprocess.run([*HARNESS, "@greet"], cwd=tree, check=True, capture_output=True)
    subprocess.run([PYTHON, "app.py"], cwd=tree, check=True, capture_output=True)
    return (time.perf_counter() - start) * 1000


def through_opscore(repo_row, mode: str, tokens: str) -> tuple[float, int]:
    from coding.driver import handle_one_run
    from tests.coding_support import new_run

    run = new_run(repo_row, tokens, mode=mode)
    start = time.perf_counter()
    handle_one_run()
    ms = (time.perf_counter() - start) * 1000
    run.refresh_from_db()
    ENDED_AS[mode] = f"{run.status}: {run.reason.splitlines()[0][:80]}"
    return ms, run.iteration


ENDED_AS: dict[str, str] = {}  # how each mode's last run ended: the work really ran?


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def box_floor(root: Path, runs: int, first=("true",), second=("true",)) -> tuple[float, float]:
    """(bare, boxed): median ms of starting `first` then `second` bare, and in a pass's two
    boxes as run_boxed builds them (`first` as the harness, then `second` as its tests, chained
    in the same launch: same mounts, namespaces, Landlock, output pumped), so the floor is
    visible beside the ratio. With `true` it is the boxes' own price; with the pass's own
    commands it is also what confinement costs those commands while they run (a Python
    starting under Landlock and the seccomp filter opens and stats hundreds of paths)."""
    from coding.chain import Chained, resume
    from coding.sandbox import Limits, run_boxed

    tree = root / "floor" / f"run-{len(list((root / 'floor').glob('run-*'))) + 1}" / "tree"
    tree.mkdir(parents=True)
    (tree / "app.py").write_text("print('hello')\n")

    def two_bare():
        subprocess.run(list(first), cwd=tree, check=True, capture_output=True)
        subprocess.run(list(second), cwd=tree, check=True, capture_output=True)

    def two_boxed():
        tests = Chained("tests", list(second), Limits())
        assert run_boxed(list(first), str(tree), then=[tests]).exit_status == 0
        assert resume(tests).exit_status == 0

    return alternating(lambda n: timed(two_bare), lambda n: timed(two_boxed), runs)


def alternating(first, second, runs: int) -> tuple[float, float]:
    """Medians of `first(n)` and `second(n)` taken in turns, so a machine that gets busier
    or quieter during the bench moves both alike and their ratio stays honest."""
    pairs = [(first(n), second(n)) for n in range(runs)]
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


def storm(repo_row) -> int:
    from django.db import connection

    from coding.driver import let_go, start_next
    from coding.models import CodingRun
    from tests.coding_support import new_run

    CodingRun.objects.filter(status__in=["queued", "running"]).update(status="cancelled")
    repo_row.max_concurrent_runs = 50
    repo_row.save()
    for n in range(50):
        new_run(repo_row, f"storm {n}")
    started = []

    def dispatcher():
        for _ in range(10):
            run = start_next()
            if run is not None:
                started.append(run.id)
                let_go(run.id)
        connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_coding")
    root = Path(tempfile.mkdtemp(prefix="bench-coding-"))
    from django.conf import settings

    django_ready(migrate=True)
    settings.OPS_CODING_DIR = root / "coding"
    settings.OPS_CODING_RUNNERS = {"command": HARNESS}
    # The box shows only the system's programs: the interpreter and the harness must be
    # readable in it, or the harness and the tests fail at once and nothing is compared.
    settings.OPS_CODING_READ_PATHS = [sys.prefix, sys.base_prefix, str(Path(HARNESS[1]).parent)]
    from coding.models import Repository
    from opscore.actions import set_policy
    from opscore.models import Policy

    repo = make_repo(root)
    row = Repository.objects.create(
        name="bench",
        path=str(repo),
        allowed_base_refs=["main"],
        runners=["command"],
        test_command=[PYTHON, "app.py"],
    )
    set_policy("coding_policy", {"max_iterations": 5, "no_progress_repeats": 20}, actor="bench")
    hand, ours = alternating(
        lambda n: by_hand(repo, root, n),
        lambda n: through_opscore(row, "single-shot", "@greet")[0],
        args.runs,
    )
    if not ENDED_AS["single-shot"].startswith("waiting_for_review"):
        raise SystemExit(f"the runs did not do the work: {ENDED_AS['single-shot']}")
    (root / "floor").mkdir()
    bare, boxed = box_floor(root, args.runs)
    own_bare, own_boxed = box_floor(root, args.runs, [*HARNESS, "@greet"], [PYTHON, "app.py"])
    loop_ms, passes = through_opscore(row, "ralph-loop", "@wander")
    started = storm(row)
    limit = Policy.objects.value("coding_policy").max_running
    print(f"pass by hand (worktree + harness + test): {hand:.0f} ms (median of {args.runs})")
    print(f"Opscore single-shot run, same work:       {ours:.0f} ms  ratio {ours / hand:.2f}")
    print(f"  (a single-shot run ended {ENDED_AS['single-shot']})")
    floor = boxed - bare
    print(
        f"floor: `true` twice bare {bare:.1f} ms, in a pass's two boxes {boxed:.1f} ms; the boxes"
        f" add {floor:.0f} ms (ratio {(hand + floor) / hand:.2f} for a run doing no more than by"
        " hand)"
    )
    own = own_boxed - own_bare
    print(
        f"floor with the pass's own commands (harness, then tests): bare {own_bare:.1f} ms,"
        f" boxed {own_boxed:.1f} ms; the boxes add {own:.0f} ms (ratio {(hand + own) / hand:.2f})"
    )
    print(f"ralph loop: {passes} passes in {loop_ms:.0f} ms = {loop_ms / passes:.0f} ms a pass")
    print(f"storm: 50 queued, 8 dispatchers: {started} started (WIP limit {limit})")


if __name__ == "__main__":
    main()
