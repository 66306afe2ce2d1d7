"""The change a reviewer reads (a person, the reviewing model, `coding approve`'s preview): the
commit's whole diff as text, and each binary file it holds named with its size and blob id,
since git prints such a file as "Binary files … differ" alone. An approval binds the commit,
so those bytes too: the listing is what says which bytes they are."""

import os
import tempfile

from coding.hardened_git import EMPTY_TREE, git, git_output, git_started
from coding.watch import unsaid

NO_BLOB = "0" * 40


def shown_diff(repo_path: str, base: str, head: str) -> str:
    """The diff a reviewer (a person or the reviewing model) is shown: every change as text,
    whatever the repository's attributes say. A merged `.gitattributes` (`*.min.js binary`,
    `-diff`, a textconv) would print a changed file as "Binary files differ" or as whatever
    its driver makes of it; git reads attributes from the checkout and its index, so this diff
    runs from an empty folder as its work tree, with an empty index and (git >= 2.42) the empty
    tree as attr.tree. Real binaries (a NUL in them) still print as binary, and are listed
    after it, each with its size and blob id (binaries_said). A key the harness wrote into a
    file reads [redacted] here, as in everything it printed (and such a change is not
    approvable: coding.approvals)."""
    return unsaid(change_diff(repo_path, base, head))


def change_diff(repo_path: str, base: str, head: str) -> str:
    """shown_diff's text before its secrets are masked: what the commit really holds."""
    common = git(["rev-parse", "--path-format=absolute", "--git-common-dir"], repo_path).strip()
    diff = attribute_free(common, ["diff", "--no-ext-diff", "--no-textconv", f"{base}..{head}"])
    return diff + binaries_said(listed_binaries(common, base, head))


def attribute_free(common: str, args: list[str]) -> str:
    """A git diff of the repository's, reading no .gitattributes (shown_diff's why)."""
    with tempfile.TemporaryDirectory(prefix="opscore-diff-") as empty:
        where = ["--git-dir", common, "--work-tree", empty, "-c", f"attr.tree={EMPTY_TREE}"]
        index = {"GIT_INDEX_FILE": os.path.join(empty, "index")}
        return git([*where, *args, "--"], empty, index)


def binary_files(repo_path: str, base: str, head: str) -> list[dict]:
    """Each file the change holds that git counts as binary: its path (as git quotes it), its
    size and blob id as the head holds it (none: deleted), and as the base did (none: new)."""
    common = git(["rev-parse", "--path-format=absolute", "--git-common-dir"], repo_path).strip()
    return listed_binaries(common, base, head)


def listed_binaries(common: str, base: str, head: str) -> list[dict]:
    """binary_files, from one listing (`--raw` rows, then `--numstat` rows: "-\t-" a binary)
    and one `cat-file` for the sizes. Renames as a deletion and an addition: each its bytes."""
    rows = ["diff", "--raw", "--numstat", "--no-abbrev", "--no-renames", f"{base}..{head}"]
    blobs, binary = {}, []
    for row in attribute_free(common, rows).splitlines():
        if row.startswith(":"):
            meta, _, path = row.partition("\t")
            blobs[path] = meta.split()[2:4]
        elif row.startswith("-\t-\t"):
            binary.append(row[4:])
    wanted = {sha for path in binary for sha in blobs[path] if sha != NO_BLOB}
    sizes = sizes_of(common, sorted(wanted))
    return [
        {"path": path} | side("", blobs[path][1], sizes) | side("was_", blobs[path][0], sizes)
        for path in binary
    ]


def side(prefix: str, sha: str, sizes: dict) -> dict:
    if sha == NO_BLOB:
        return {f"{prefix}blob": None, f"{prefix}size": None}
    return {f"{prefix}blob": sha, f"{prefix}size": sizes[sha]}


def sizes_of(common: str, blobs: list[str]) -> dict[str, int]:
    if not blobs:
        return {}
    started = git_started(["--git-dir", common, "cat-file", "--batch-check"], common, fed=True)
    said = git_output(started, "".join(f"{sha}\n" for sha in blobs))
    return {sha: int(size) for sha, _, size in (line.split() for line in said.splitlines())}


def binaries_said(binaries: list[dict]) -> str:
    """The binary files as a reviewer reads them, after the diff: '' when there is none."""
    if not binaries:
        return ""
    lines = [
        "",
        f"{len(binaries)} binary file(s), their bytes not shown above; approving this "
        "commit approves exactly these bytes:",
    ]
    for found in binaries:
        now = bytes_said(found["size"], found["blob"]) if found["blob"] else "deleted"
        was = f"was {bytes_said(found['was_size'], found['was_blob'])}"
        lines.append(f"  {found['path']}: {now} ({was if found['was_blob'] else 'new file'})")
    return "\n".join(lines) + "\n"


def bytes_said(size: int | None, blob: str | None) -> str:
    return f"{size:,} bytes, blob {blob}" if blob else ""
