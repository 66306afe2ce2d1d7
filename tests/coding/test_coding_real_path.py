"""The driver's `.git` pointer checks (coding/gitview.py, coding/hardened_git.py) compare real
paths resolved by the kernel and as text: each must say what os.path.realpath and pathlib
say, whatever the harness planted."""

import os
from pathlib import Path

import pytest

from coding.gitview import inside, real_path
from coding.hardened_git import file_or_link


@pytest.fixture
def planted(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "b" / "up").symlink_to("..")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to("loop")
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


SHAPES = [
    "",
    "link",
    "link/b/file",
    "a/b/up/b/up/../b",
    "link/b/../b/file/",
    "dangling",
    "dangling/deeper",
    "missing/x",
    "loop",
    "loop/x",
    "fifo",  # opened O_PATH: never waited on
    "a/b/file/not-a-dir",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_it_names_what_realpath_names(planted, shape):
    path = planted / shape if shape else planted

    assert real_path(path) == os.path.realpath(path)
    assert real_path(str(path)) == os.path.realpath(path)


def test_a_relative_path_is_taken_from_the_working_directory(planted, monkeypatch):
    monkeypatch.chdir(planted / "link")

    assert real_path("b/up/b") == os.path.realpath("b/up/b") == str(planted / "a" / "b")


@pytest.mark.parametrize(
    ("resolved", "folder"),
    [
        ("/c/worktrees", "/c/worktrees"),
        ("/c/worktrees/r/run-1/tree", "/c/worktrees"),
        ("/c/worktrees-2/x", "/c/worktrees"),
        ("/c/workt", "/c/worktrees"),
        ("/c", "/c/worktrees"),
        ("/anything", "/"),
        ("/", "/"),
    ],
)
def test_a_real_path_is_inside_a_folder_as_pathlib_says(resolved, folder):
    assert inside(resolved, folder) == Path(resolved).is_relative_to(folder)


def test_a_pointer_is_a_file_or_a_link_as_pathlib_says(planted):
    for name in ("a", "a/b/file", "link", "dangling", "loop", "fifo", "missing", "a/b/file/x"):
        path = planted / name
        assert file_or_link(str(path)) == (path.is_file() or path.is_symlink()), name
