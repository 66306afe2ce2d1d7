"""What a box leaves on the machine once it is gone: the worktree and HOME stay (a run waits
for review for days), so nothing a boxed command wrote there may run with more than its
reader's own rights — no set-user- or set-group-id file, the harness's or its tests'."""

from pathlib import Path

from tests.coding.test_coding_sandbox import attack, findings, pytestmark  # noqa: F401


def test_nothing_a_box_wrote_is_left_set_user_or_group_id_outside_it(attack, coding_repo):  # noqa: F811
    made = "cp /bin/sh tests-sh && chmod 6755 tests-sh"  # the tests are the harness's code too
    coding_repo.test_command = ["sh", "-c", made]
    coding_repo.save()

    run = attack("setuid_copy")

    assert findings(run)["setuid_copy"].startswith("ok"), findings(run)  # its own files
    tree = Path(run.worktree_path)
    left = [tree / "setid-python", tree.parent / "home" / "setid-python", tree / "tests-sh"]
    assert [oct(path.stat().st_mode) for path in left] == ["0o100755"] * 3
