"""A dev job as a proposal: the one shape the CLI, the Stage and agents hand to the intake."""

import shlex

from coding.jobs import KIND


def criterion(text: str) -> dict | str:
    """`"tests pass"` is checklist text; `"greets=python check.py"` also runs a command."""
    if "=" not in text:
        return text
    label, argv = text.split("=", 1)
    return {"text": label.strip() or argv, "command": shlex.split(argv)}


def job_proposal(opts: dict) -> dict:
    criteria = [*opts["accept"], *(criterion(c) for c in opts.get("accept_command") or [])]
    payload = {
        "repo": opts["repo"],
        "worktree_ref": opts.get("base") or "",
        "task_kind": opts.get("task_kind") or "change",
        "summary": opts["summary"],
        "problem_statement": opts["problem"],
        "acceptance_criteria": criteria,
        "constraints": {
            "allow_merge": bool(opts.get("allow_merge")),
            "allow_deploy": False,
            "max_changed_files": opts.get("max_changed_files") or 12,
        },
        "handoff": {"runner": opts.get("runner") or "command", "mode": opts.get("mode")},
    }
    return {
        "agent": opts["agent"],
        "title": f"Code change: {opts['summary']}"[:200],
        "steps": [{"kind": KIND, "payload": payload, "agent": opts["agent"]}],
    }
