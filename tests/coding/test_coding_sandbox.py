"""A hostile harness through the real driver: every escape a prompt-injected coding agent
would try fails inside the box, and the world outside is untouched (issue 26).

The harness (tests/fake_harness/hostile.py) writes what each attempt got into its worktree;
the tests read that and look at the outside world themselves. What it leaves in its worktree
and HOME for the driver outside the box is test_coding_driver_traps's.
"""

import json
import os
import resource
import socket
import sys
import uuid
from io import StringIO
from pathlib import Path

import psutil
import pytest
from django.core.management import call_command
from django.db import connection

from coding.driver import handle_one_run
from coding.sandbox import confinement_missing
from opscore.actions import set_policy
from opscore.models import Event
from tests.coding_support import new_run
from tests.conftest import sh
from tests.processes import ROOT

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(confinement_missing()),
        reason=f"this kernel cannot build the box: {confinement_missing()}",
    ),
]
HOSTILE = [sys.executable, str(Path(__file__).parent.parent / "fake_harness" / "hostile.py")]


@pytest.fixture
def attack(coding_repo, settings, tmp_path):
    """Targets outside the box, and a way to send the hostile harness at them."""
    settings.OPS_CODING_RUNNERS = {"command": HOSTILE}
    repo = Path(coding_repo.path)
    sh("git", "checkout", "-q", "-b", "side", cwd=repo)
    sh(
        "git",
        "-c",
        "user.email=a@b",
        "-c",
        "user.name=a",
        "commit",
        "-qm",
        "side",
        "--allow-empty",
        cwd=repo,
    )
    side = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    sh("git", "checkout", "-q", "main", cwd=repo)
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "post-checkout").write_text(f"#!/bin/sh\ntouch {tmp_path / 'pwned'}\n")
    (evil / "post-checkout").chmod(0o755)
    (tmp_path / "secrets.env").write_text("SECRET_KEY=seeded-secret-file\n")
    other = Path(settings.OPS_CODING_DIR, "worktrees", "app", "run-999", "tree")
    other.mkdir(parents=True)
    db = connection.settings_dict
    targets = {
        "secret": str(tmp_path / "secrets.env"),
        "checkout": str(ROOT),
        "home": str(Path.home()),
        "absolute": str(tmp_path / "absolute.txt"),
        "other_run": str(other / "x.txt"),
        "through_link": str(tmp_path / "through.txt"),
        "pg_socket": f"{db['HOST']}/.s.PGSQL.{db['PORT'] or 5432}",
        "evil_dir": str(evil),
        "pwned": str(tmp_path / "pwned"),
        "planted": str(tmp_path / "written-by-the-driver"),
        "side_sha": side,
        "marker": f"opscore-setsid-{uuid.uuid4().hex}",
    }

    def send(*attempts, caps=None, **more):
        run = new_run(
            coding_repo, "@hostile " + json.dumps(targets | more | {"attempts": attempts})
        )
        run.limits |= caps or {}
        run.save(update_fields=["limits"])
        assert handle_one_run()
        run.refresh_from_db()
        return run

    send.targets, send.repo = targets, repo
    return send


def findings(run) -> dict:
    return json.loads(Path(run.worktree_path, "findings.json").read_text())


def all_blocked(run, *names) -> dict:
    seen = findings(run)
    assert {name: seen[name][:8] for name in names} == {name: "blocked:" for name in names}, seen
    return seen


def sandbox_notes(run) -> list[str]:
    events = Event.objects.filter(kind="coding.run.sandbox", payload__run_id=run.id)
    return list(events.values_list("summary", flat=True))


def test_no_secret_is_in_reach(attack):
    run = attack(
        "parent_environ", "any_environ", "secret_file", "opscore_checkout", "operator_home"
    )

    seen = all_blocked(
        run, "parent_environ", "any_environ", "secret_file", "opscore_checkout", "operator_home"
    )
    assert "seeded-secret" not in json.dumps(seen)
    assert Path(attack.targets["secret"]).read_text().startswith("SECRET_KEY")  # it is there


def test_writes_outside_the_worktree_fail_in_the_harness(attack, tmp_path):
    names = ("write_up_three", "write_absolute", "write_other_run", "write_through_symlink")

    run = attack(*names)

    all_blocked(run, *names)
    tree = Path(run.worktree_path)
    for target in ("absolute", "other_run", "through_link"):
        assert not Path(attack.targets[target]).exists()
    assert not (tree.parent.parent.parent / "up-three.txt").exists()
    assert not (tree / "link-out").exists()


def test_the_harness_has_no_network_not_even_loopback_or_the_database_socket(attack):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # reachable here
        assert Path(attack.targets["pg_socket"]).exists()

        run = attack("tcp_loopback", "postgres_socket", port=port)

    all_blocked(run, "tcp_loopback", "postgres_socket")


def test_the_repository_git_directory_is_read_only_to_the_harness(attack, tmp_path):
    main = sh("git", "rev-parse", "main", cwd=attack.repo).strip()

    run = attack("git_hooks_path", "git_fsmonitor", "git_hook_file", "update_ref_main")

    seen = all_blocked(run, "git_hooks_path", "git_fsmonitor", "git_hook_file", "update_ref_main")
    assert all("Read-only file system" in seen[name] for name in seen)
    assert sh("git", "rev-parse", "main", cwd=attack.repo).strip() == main
    assert "hooksPath" not in (attack.repo / ".git" / "config").read_text()
    assert not (attack.repo / ".git" / "hooks" / "post-checkout").exists()
    assert not (tmp_path / "pwned").exists()


def test_nothing_the_harness_leaves_in_its_home_reaches_the_tests(attack, coding_repo):
    coding_repo.test_command = ["sh", "-c", 'ls -A "$HOME" > home-seen.txt; cat ~/.gitconfig']
    coding_repo.save()

    run = attack("plant_in_home")

    assert findings(run)["plant_in_home"].startswith("ok")  # its own HOME: allowed
    assert Path(run.worktree_path).parent.joinpath("home", "planted-by-harness").exists()
    assert Path(run.worktree_path, "home-seen.txt").read_text().split() == [".gitconfig"]
    assert "directory = *" in run.iterations.get().test_output  # the tests' git still works


def test_the_tests_box_shares_nothing_with_the_harness_box_but_the_worktree(attack, coding_repo):
    look = "ls -A /tmp > seen-tmp.txt; cat /proc/[0-9]*/cmdline | tr '\\0' ' ' > seen-procs.txt"
    coding_repo.test_command = ["sh", "-c", look]
    coding_repo.save()

    run = attack(
        "plant_in_tmp",
        "setsid_child",
        "linger",
        "write_inherited_fds",
        "ptrace_init",
        "own_user_namespace",
    )

    seen = findings(run)
    assert seen["own_user_namespace"].startswith("blocked: PermissionError"), seen
    assert seen["plant_in_tmp"].startswith("ok") and seen["setsid_child"].startswith("ok")
    assert seen["linger"].startswith("ok"), seen
    assert seen["write_inherited_fds"].startswith("blocked"), seen
    assert seen["ptrace_init"].startswith("blocked"), seen
    tree = Path(run.worktree_path)
    assert "planted-by-harness" not in (tree / "seen-tmp.txt").read_text()
    assert attack.targets["marker"] not in (tree / "seen-procs.txt").read_text()
    assert lingering(attack.targets["marker"]) == []
    assert "FORGED" not in run.iterations.get().test_output
    assert run.status == "waiting_for_review", run.reason


def lingering(marker: str) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]


def test_a_fork_bomb_meets_the_process_limit(attack):
    run = attack("fork_300")

    seen = all_blocked(run, "fork_300")
    assert int(seen["forked"]) < 300


def test_a_setsid_child_dies_with_its_pass_and_the_kill_is_an_event(attack):
    run = attack("setsid_child")

    assert findings(run)["setsid_child"].startswith("ok")
    assert lingering(attack.targets["marker"]) == []
    assert any("killed 1 process(es) the command left running" in n for n in sandbox_notes(run))
    out = StringIO()
    call_command("coding", "runs", "--json", stdout=out)
    listed = next(r for r in json.loads(out.getvalue()) if r["id"] == run.id)
    assert any("left running" in note for note in listed["sandbox"])


def test_a_child_holding_stdout_does_not_hold_the_driver(attack):
    set_policy("coding_policy", {"harness_timeout_seconds": 5}, actor="test")

    run = attack("hold_stdout")

    assert run.status == "waiting_for_review", run.reason
    assert run.iterations.get().exit_status == 0
    assert any("left running" in n for n in sandbox_notes(run))


def test_a_gigabyte_of_output_is_capped_in_a_file_and_not_held_in_memory(attack, coding_repo):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    set_policy("coding_policy", {"harness_timeout_seconds": 300}, actor="test")

    run = attack("flood_stdout", flood_mb=1024, caps={"harness_output_bytes": 1_000_000})

    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert run.status == "waiting_for_review", run.reason
    output = Path(run.worktree_path).parent / ".box" / "harness.log"
    assert output.stat().st_size <= 1_000_000
    assert grown < 50 * 1024**2
    assert any("output cut at 1000000 bytes" in n for n in sandbox_notes(run))


def test_the_tests_box_cannot_read_its_init_forked_from_the_launch_that_held_the_harness_secrets(
    attack, coding_repo, settings
):
    settings.OPS_CODING_PASS_ENV = ["ANTHROPIC_API_KEY"]
    look = "for f in environ cmdline mem; do head -c 100000 /proc/1/$f; done; ls -l /proc/1/fd"
    coding_repo.test_command = ["sh", "-c", f"({look}) > seen-init.txt 2>&1; true"]
    coding_repo.save()

    run = attack("init_fds")

    assert findings(run)["init_fds"].startswith("blocked"), findings(run)
    seen = Path(run.worktree_path, "seen-init.txt").read_bytes()
    assert b"sk-ant-seeded" not in seen and b"sk-ant-seeded".hex().encode() not in seen, seen
    assert b"Permission denied" in seen, seen
    assert run.status == "waiting_for_review", run.reason


def test_a_key_the_harness_puts_in_its_uids_keyring_does_not_outlive_its_pass(attack, coding_repo):
    coding_repo.test_command = [sys.executable, str(Path(HOSTILE[1]).parent / "uid_keyring.py")]
    coding_repo.save()

    run = attack("keyring_plant")

    assert run.status == "waiting_for_review", run.reason
    said = run.iterations.get().test_output
    assert attack.targets["marker"] not in said and "no key" in said, said
    assert findings(run)["keyring_plant"].startswith("blocked"), findings(run)


def test_a_command_that_crashes_dumps_no_core_even_through_a_piped_core_pattern(
    attack, coding_repo
):
    limit = "import resource; print('core limit', resource.getrlimit(resource.RLIMIT_CORE))"
    coding_repo.test_command = [sys.executable, "-c", limit]
    coding_repo.save()

    run = attack()

    assert "core limit (1, 1)" in run.iterations.get().test_output  # 0 is ignored for a pipe


def test_opscore_data_inside_a_system_path_is_hidden_in_the_box(attack, settings):
    settings.DATA_DIR = Path("/etc/ssl")  # as a checkout in /opt would have it: bound read-only
    assert os.listdir(settings.DATA_DIR)

    run = attack("opscore_data", data_dir=str(settings.DATA_DIR))

    all_blocked(run, "opscore_data")


def test_the_operators_home_inside_a_system_path_is_hidden_in_the_box(attack, monkeypatch):
    monkeypatch.setenv("HOME", "/etc/ssl")  # a service user's HOME in /opt: bound read-only
    assert os.listdir(Path.home())

    run = attack("operator_home", home=str(Path.home()))

    all_blocked(run, "operator_home")
    assert run.status == "waiting_for_review", run.reason  # the driver's own git still works


NOT_PROVEN = 'raise SystemExit("not proven: the app does not greet yet")\n'
READS_OVERRIDE = 'from pathlib import Path\n\nif not Path("local_settings.txt").exists():\n    '
# What the tests run that no review shows: bytecode for an untouched module (never committed),
# and a file the repository's .gitignore names (never staged).
HIDDEN = {
    "shadow_bytecode": {"verdict.py": NOT_PROVEN},
    "ignored_override": {"verdict.py": READS_OVERRIDE + NOT_PROVEN, ".gitignore": "local_*\n"},
}


def committed(repo: Path, files: dict) -> None:
    """`files` (name: text) committed on the repository's main branch."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    sh("git", "add", ".", cwd=repo)
    sh("git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "tests", cwd=repo)


@pytest.mark.parametrize("hidden", HIDDEN)
def test_the_tests_run_on_the_change_under_review_not_on_what_it_leaves_out(
    attack, coding_repo, hidden
):
    committed(attack.repo, HIDDEN[hidden])
    coding_repo.test_command = [sys.executable, "-c", "import verdict"]
    coding_repo.save()

    run = attack(hidden, shadowed="verdict.py", ignored="local_settings.txt")

    passes = run.iterations.order_by("number")
    assert [p.tests_passed for p in passes] == [False] * len(passes), run.reason
    assert all("not proven" in p.test_output for p in passes), passes[0].test_output
    assert run.status == "failed" and not run.head_sha, run.reason
    kept = Path(run.patch_ref).read_text()  # the failed run's worktree is gone, its work kept
    assert f'+ "{hidden}": "ok: ' in kept, kept  # planted each pass: its own worktree


def test_the_tests_are_not_hidden_from_their_runner_by_a_mode_no_review_shows(attack, coding_repo):
    case = "import unittest\n\n\nclass Check(unittest.TestCase):\n    def test_it(self):\n        "
    tests = {"checks/test_app.py": case + "pass\n", "checks/greeting/__init__.py": ""}
    failing = {"checks/greeting/test_it.py": case + 'self.fail("not proven")\n'}
    committed(attack.repo, tests | failing)  # the folder the harness makes unreadable
    coding_repo.test_command = [sys.executable, "-m", "unittest", "discover", "-s", "checks"]
    coding_repo.save()

    run = attack("unreadable_tests", unreadable="checks/greeting")

    passes = run.iterations.order_by("number")
    assert [p.tests_passed for p in passes] == [False] * len(passes), run.reason
    assert all("not proven" in p.test_output for p in passes), passes[0].test_output
    assert run.status == "failed" and not run.head_sha, run.reason
    assert '+ "unreadable_tests": "ok: ' in Path(run.patch_ref).read_text()  # it was made so


def test_a_repository_nested_in_the_worktree_fails_its_pass_before_the_tests_run_on_its_files(
    attack, coding_repo
):
    committed(attack.repo, {"verdict.py": NOT_PROVEN})
    coding_repo.test_command = [sys.executable, "-c", "import verdict"]
    coding_repo.save()

    run = attack("nested_package", shadowed="verdict.py")

    assert run.status == "failed" and not run.head_sha, run.reason
    assert "repository nested in its worktree: verdict" in run.reason, run.reason
    assert [p.tests_passed for p in run.iterations.all()] == [None]  # its tests never ran


def test_a_failed_runs_kept_patch_runs_no_diff_driver_its_attributes_name(
    attack, coding_repo, tmp_path
):
    program = f"touch {tmp_path / 'pwned'}; tr a-z A-Z <"  # the operator's, for their files
    sh("git", "config", "diff.upper.textconv", program, cwd=attack.repo)
    coding_repo.test_command = ["false"]
    coding_repo.save()

    run = attack("diff_driver", driver="upper")

    assert run.status == "failed", run.reason
    kept = Path(run.patch_ref).read_text()  # the failed run's worktree is gone, its work kept
    assert "+lower case, as written" in kept, kept  # the change itself: a patch that applies
    assert not (tmp_path / "pwned").exists()
