"""Registering a repository (a trust zone): checked the same way from the admin's form and the
CLI — an absolute path to a git checkout, base refs that exist, runners Opscore knows, and
commands given as argv lists."""

from pathlib import Path

from django.core.exceptions import ValidationError

from coding.runners import RUNNERS
from coding.worktrees import GitFailed, git


def argv_problem(value) -> str:
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        return 'an argv list of non-empty strings, e.g. ["python", "-m", "pytest"]'
    return ""


def repository_errors(repo) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    path = Path(repo.path or "")
    if not path.is_absolute() or not path.is_dir():
        return {"path": [f"{repo.path!r} is not an absolute path to a directory"]}
    try:
        git(["rev-parse", "--git-dir"], path)
    except GitFailed:
        return {"path": [f"{repo.path} is not a git checkout"]}
    for ref in repo.allowed_base_refs or []:
        try:
            git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], path)
        except GitFailed:
            errors.setdefault("allowed_base_refs", []).append(f"no commit named {ref!r}")
    if not repo.allowed_base_refs:
        errors["allowed_base_refs"] = ['at least one, e.g. ["main"]']
    unknown = [r for r in repo.runners or [] if r not in RUNNERS]
    if unknown or not repo.runners:
        errors["runners"] = [f"runners from {', '.join(RUNNERS.names())}; not {unknown or '[]'}"]
    for name in ("test_command", "lint_command"):
        value = getattr(repo, name)
        if value and argv_problem(value):
            errors[name] = [argv_problem(value)]
    return errors


def check_repository(repo) -> None:
    errors = repository_errors(repo)
    if errors:
        raise ValidationError(errors)
