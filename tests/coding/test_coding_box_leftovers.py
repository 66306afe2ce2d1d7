"""What a box leaves on the machine once it is gone: the worktree and HOME stay (a run waits
for review for days), so nothing a boxed command wrote there may run with more than its
reader's own rights — no set-user- or set-group-id file, the harness's or its tests'."""

from pathlib import Path

from coding import box
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


class SwappedAfterItsLook:
    """A walk's entry that a process of a killed box (alive for a moment after its launch's
    outer process, which is all the driver waits for) swaps for a link once the driver has
    looked at it: a set-user-id file, then a link to a file of the machine's."""

    def __init__(self, entry, target: Path):
        self.entry, self.target = entry, target
        self.path, self.name = entry.path, entry.name

    def stat(self, follow_symlinks=True):
        seen = self.entry.stat(follow_symlinks=follow_symlinks)
        Path(self.path).unlink()
        Path(self.path).symlink_to(self.target)
        return seen

    def is_dir(self, follow_symlinks=True):
        return False


def test_a_file_swapped_for_a_link_as_the_driver_looks_gets_no_mode_through_it(
    tmp_path, monkeypatch
):
    machines = tmp_path / "shadow"
    machines.write_text("root's\n")
    machines.chmod(0o600)
    tree, home = tmp_path / "tree", tmp_path / "home"
    tree.mkdir(), home.mkdir()
    (tree / "f").write_text("")
    (tree / "f").chmod(0o4777)
    walked = box.entries
    swapping = lambda tops: (SwappedAfterItsLook(e, machines) for e in walked(tops))  # noqa: E731
    monkeypatch.setattr(box, "entries", swapping)

    box.disarm([tree, home])

    assert oct(machines.stat().st_mode) == "0o100600"  # not made writable by all
