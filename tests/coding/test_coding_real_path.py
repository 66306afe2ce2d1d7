"""The driver's `.git` pointer checks compare real paths (coding/gitview.py): resolved by the
kernel, each must be what os.path.realpath says, whatever the harness planted."""

import os

import pytest

from coding.gitview import real_path


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
