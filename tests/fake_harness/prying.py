"""A coding harness that pries at what is not its own and buries the driver in what is: other
runs' work through the repository's git directory its box shows (their refs, their objects,
their worktrees' files, reflogs), and trees too big or too deep for a walk. The prompt is
`@prying` and a JSON object of targets; each attempt's outcome goes into `findings.json` in
the worktree ("ok: …" when it got something, "blocked: …" when it got nothing), as
hostile.py's do (attempts.py).
"""

import contextlib
import json
import os
import subprocess
from pathlib import Path

from attempts import sent  # beside this file

targets, findings, attempt = sent("@prying", cut=1500)


def git(*args) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise OSError(done.stderr.strip()[-300:])
    return done.stdout.strip()


def common() -> Path:
    return Path(git("rev-parse", "--path-format=absolute", "--git-common-dir"))


def others(said: list[str]) -> list[str]:
    """What of `said` names the other run's branch, commit or blob; refused when nothing."""
    names = [targets["other_branch"], targets["other_sha"], targets["other_blob"]]
    found = [text[:300] for text in said if any(name in text for name in names)]
    if not found:
        raise PermissionError(f"nothing of the other run in {len(said)} looks")
    return found


def tried(*args) -> str:
    with contextlib.suppress(OSError):
        return git(*args)
    return ""


@attempt("other_refs")
def _():
    """Every ref its git can list, and every commit a walk of them reaches."""
    return others(
        [
            tried("for-each-ref", "--format=%(refname) %(objectname)"),
            tried("log", "--all", "--format=%H %s"),
            tried("branch", "-a"),
        ]
    )


@attempt("other_objects")
def _():
    """The other run's commit and the blob of its change by name, and every object listed."""
    said = [tried("cat-file", "-p", targets["other_sha"]), tried("show", targets["other_blob"])]
    said.append(tried("cat-file", "--batch-all-objects", "--batch-check=%(objectname)"))
    shown = [text for text in said[:2] if text]
    return others(said) + shown


@attempt("other_worktrees")
def _():
    """The private git directories of the repository's other worktrees: their HEAD, index
    (every staged file's name and blob), reflog."""
    mine = Path(git("rev-parse", "--path-format=absolute", "--git-dir")).name
    read = []
    for folder in (common() / "worktrees").iterdir():
        for name in ("HEAD", "index", "gitdir", "logs/HEAD", "ORIG_HEAD"):
            with contextlib.suppress(OSError):
                if folder.name != mine:
                    read.append(f"{folder.name}/{name}: {(folder / name).read_bytes()[:200]!r}")
    if not read:
        raise PermissionError("no other worktree's files")
    return read


@attempt("other_reflogs")
def _():
    """The repository's reflogs (its branches' moves, their messages) and the other run's."""
    logs, read = common() / "logs", [tried("reflog", "show", targets["other_branch"])]
    for path in logs.rglob("*") if logs.is_dir() else ():
        with contextlib.suppress(OSError):
            read.append(f"{path.relative_to(logs)}: {path.read_text()}")
    return others(read)


@attempt("repository_leftovers")
def _():
    """What the operator's own git leaves in the git directory: the last fetch, the head
    before a reset, every ref packed, the commit graph."""
    read = []
    names = ("FETCH_HEAD", "ORIG_HEAD", "packed-refs", "objects/info/commit-graph", "info/refs")
    for name in names:
        with contextlib.suppress(OSError):
            read.append(f"{name}: {(common() / name).read_bytes().hex()}")
            read.append(f"{name}: {(common() / name).read_text(errors='replace')}")
    return others(read)


@attempt("own_git")
def _():
    """Its own checkout's git: status, history and diffs (against the base too) as ever."""
    git("status", "--porcelain")
    said = [git("rev-parse", "HEAD"), git("log", "--format=%s"), git("diff", "HEAD", "--stat")]
    return [*said, git("diff", "main", "--stat")]


@attempt("many_files")
def _():
    """More files than any walk should have to count, in its HOME (never in the diff)."""
    folder = Path(os.environ["HOME"], "many")
    folder.mkdir()
    for n in range(targets["files"]):
        (folder / str(n)).touch()
    return f"{targets['files']} files"


@attempt("deep_dirs")
def _():
    """A chain of folders deeper than a recursive walk goes (Python's os.walk recurses)."""
    path = os.environ["HOME"]
    for _ in range(targets["depth"]):  # os.makedirs recurses too
        path = os.path.join(path, "d")
        os.mkdir(path)
    return f"{targets['depth']} deep"


@attempt("big_file")
def _():
    """Disk taken in its HOME, where no diff shows it."""
    with open(Path(os.environ["HOME"], "big.bin"), "wb") as big:
        for _ in range(targets["megabytes"]):
            big.write(os.urandom(1 << 20))
    return f"{targets['megabytes']} MB"


print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "done"}))
