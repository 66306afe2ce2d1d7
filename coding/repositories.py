"""Registering a repository (a trust zone): checked the same way from the admin's form and the
CLI — an absolute path to a git checkout, base refs that exist, runners Opscore knows, and
commands given as argv lists."""

from pathlib import Path

from django import forms
from django.core.exceptions import ValidationError

from coding.hardened_git import GitFailed, git
from coding.runners import RUNNERS


def argv_problem(value) -> str:
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        return 'an argv list of non-empty strings, e.g. ["python", "-m", "pytest"]'
    return ""


def path_problem(path: Path) -> str:
    """What is wrong with a repository's path, named exactly: an operator told only "not an
    absolute path to a directory" of /tmp/nope goes looking for the wrong mistake."""
    if not path.is_absolute():
        return "is not an absolute path"
    if not path.exists():
        return "does not exist"
    return "" if path.is_dir() else "is not a directory"


def repository_errors(repo) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    path = Path(repo.path or "")
    if problem := path_problem(path):
        return {"path": [f"{repo.path!r} {problem}"]}
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
    """The model's own checks and the repository's (a git checkout, its refs, its runners), in
    one ValidationError: git is driven by coding.worktrees, which reads the models, so these
    checks sit here, where the CLI and the admin's form call them, not in Repository.clean()."""
    errors: dict[str, list[str]] = {}
    try:
        repo.full_clean()
    except ValidationError as invalid:
        errors = dict(invalid.message_dict)
    for field, messages in repository_errors(repo).items():
        errors[field] = [*errors.get(field, []), *messages]
    if errors:
        raise ValidationError(errors)


class RepositoryForm(forms.ModelForm):
    """The admin's form: what `manage.py coding register` checks, checked the same way."""

    def _post_clean(self):
        super()._post_clean()  # the instance now holds the form's values, its own checks done
        for field, messages in repository_errors(self.instance).items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
