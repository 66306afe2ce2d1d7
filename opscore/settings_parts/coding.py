"""The coding lane's settings: where run worktrees live, the sandbox, egress, the harnesses
installed and the drivers `manage.py up` supervises."""

import hashlib
import shlex
from pathlib import Path

from opscore.settings_parts.env import env_bool, env_host_ports, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# The coding lane: run worktrees and saved patches live here — never inside a repository, nor
# inside Opscore's own checkout (a target's tests must run as in its own clone): by default
# under the user's state directory, one folder per checkout.
_STATE_HOME = Path(env_str("XDG_STATE_HOME") or Path.home() / ".local" / "state")
_CHECKOUT = f"{BASE_DIR.name}-{hashlib.sha256(bytes(BASE_DIR)).hexdigest()[:8]}"
OPS_CODING_DIR = Path(env_str("OPS_CODING_DIR") or _STATE_HOME / "opscore" / _CHECKOUT / "coding")
# The sandbox (coding/sandbox.py): extra read-only paths a harness needs (e.g. where its
# binary is installed outside /usr), the first of the unprivileged uids/gids its boxes run as
# when Opscore is root (each driver's boxes their own, coding/uids.py: uids nothing else runs
# as) and root's folder of their claims, and whether a run may go ahead unconfined where the
# kernel cannot build the box (no: it is refused; `manage.py coding doctor` says what is
# missing).
OPS_CODING_READ_PATHS = env_list("OPS_CODING_READ_PATHS")
OPS_CODING_SANDBOX_UID = env_int("OPS_CODING_SANDBOX_UID", 65536)
OPS_CODING_SANDBOX_GID = env_int("OPS_CODING_SANDBOX_GID", 65536)
OPS_CODING_UID_LOCKS = env_str("OPS_CODING_UID_LOCKS") or "/run/opscore-sandbox-uids"
OPS_CODING_ALLOW_UNCONFINED = env_bool("OPS_CODING_ALLOW_UNCONFINED", False)
# What a harness may leave for the driver to walk (coding/walks.py) and to keep on disk: past
# these many files and folders, or seconds of one walk, or bytes in its worktree and HOME
# after a pass, the pass fails saying so (a box cannot be kept from filling the disk while it
# runs; no run goes on from there).
OPS_CODING_WALK_ENTRIES = env_int("OPS_CODING_WALK_ENTRIES", 1_000_000)
OPS_CODING_WALK_SECONDS = env_int("OPS_CODING_WALK_SECONDS", 120)
OPS_CODING_TREE_BYTES = env_int("OPS_CODING_TREE_BYTES", 16 * 1024**3)
# Egress for the runners that need their model's API (claude-code, codex): the host:port pairs
# their box may reach through the egress proxy (coding/egress.py), e.g.
# OPS_CODING_EGRESS=api.anthropic.com:443. Empty: no network at all. Tests and lint never get it.
OPS_CODING_EGRESS = env_host_ports("OPS_CODING_EGRESS")
OPS_CODING_EGRESS_RUNNERS = ("claude-code", "codex")
# Harnesses the operator installed, by runner name → argv (Opscore appends its flags and the
# prompt). A binary that is not on PATH blocks the run with that reason; it never fails it.
# OPS_CODING_COMMAND="/usr/local/bin/my-harness --flag" enables the `command` runner.
OPS_CODING_RUNNERS = {
    name: shlex.split(value)
    for name, value in {
        "claude-code": env_str("OPS_CODING_CLAUDE", "claude"),
        "codex": env_str("OPS_CODING_CODEX", "codex"),
        "command": env_str("OPS_CODING_COMMAND"),
    }.items()
    if value
}
# Environment variables a harness may see besides PATH/HOME/LANG (its own key, e.g.
# ANTHROPIC_API_KEY for claude-code); nothing else of Opscore's environment reaches it.
OPS_CODING_PASS_ENV = env_list("OPS_CODING_PASS_ENV")
# Coding driver processes `manage.py up` supervises (each drives one run at a time).
OPS_CODING_DRIVERS = env_int("OPS_CODING_DRIVERS", 1)
