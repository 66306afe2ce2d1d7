"""The Markdown vault: deterministic, stable across runs, and a person's edit is never lost."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from console.vault import export_vault
from opportunities.actions import create_idea
from opscore.models import Event
from tests.factories import AgentFactory, make_memories

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(db):
    agent = AgentFactory(slug="devops")
    make_memories(agent, "lesson", 2, content="Check the disk first")
    return create_idea(
        {"source_agent": "devops", "theme": "onboarding", "title": "Paired setup", "body": "Ask."}
    )


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.md"))


def test_the_vault_is_laid_out_by_kind_and_stable_across_runs(rows, tmp_path):
    first = export_vault(tmp_path)
    before = {p: (tmp_path / p).stat().st_mtime_ns for p in files(tmp_path)}
    second = export_vault(tmp_path)

    assert first["written"] == 5 and second == {
        "written": 0,
        "unchanged": 5,
        "rewritten": 0,
        "conflict": 0,
    }
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in files(tmp_path)} == before
    idea = f"02 Ideas/{rows.created_at:%Y-%m-%d}-idea-paired-setup-{rows.id}.md"
    assert idea in files(tmp_path)
    assert any(p.startswith("04 Memories/Lessons/") for p in files(tmp_path))
    assert any(p.startswith("06 Agents/devops/") for p in files(tmp_path))
    assert any(p.startswith("07 Snapshots/") and "-snapshot-health-" in p for p in files(tmp_path))
    text = (tmp_path / idea).read_text()
    assert text.startswith(f"---\nid: idea:{rows.id}\nkind: idea\nstatus: new\n")
    assert "content_hash: " in text and "# Paired setup" in text


def test_a_changed_row_rewrites_its_file(rows, tmp_path):
    export_vault(tmp_path)
    rows.body = "Ask two new hires."
    rows.save()

    assert export_vault(tmp_path)["rewritten"] == 1


def test_a_file_a_person_edited_is_never_overwritten(rows, tmp_path):
    export_vault(tmp_path)
    idea = next(p for p in files(tmp_path) if p.startswith("02 Ideas/"))
    (tmp_path / idea).write_text((tmp_path / idea).read_text() + "\nMy own note.\n")
    rows.body = "Changed in the database."
    rows.save()

    counts = export_vault(tmp_path)
    again = export_vault(tmp_path)

    assert counts["conflict"] == 1 and "My own note." in (tmp_path / idea).read_text()
    conflict = tmp_path / idea.replace(".md", ".conflict.md")
    assert "Changed in the database." in conflict.read_text()
    assert again["conflict"] == 1 and Event.objects.filter(kind="vault.conflict").count() == 1


def test_rebuild_rewrites_from_the_database_keeping_the_edit_beside_it(rows, tmp_path):
    export_vault(tmp_path)
    idea = next(p for p in files(tmp_path) if p.startswith("02 Ideas/"))
    (tmp_path / idea).write_text("a person's rewrite\n")
    out = StringIO()

    call_command("export_vault", "--root", str(tmp_path), "--rebuild", stdout=out)

    assert "rewritten 1" in out.getvalue()
    assert (tmp_path / idea).read_text().startswith("---\nid: idea:")
    assert (tmp_path / idea.replace(".md", ".edited.md")).read_text() == "a person's rewrite\n"


def test_a_root_that_cannot_be_written_is_refused_in_one_line_with_exit_2(db, tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("export_vault", "--root", "/proc/nope", stderr=StringIO())

    assert refused.value.returncode == 2
    assert str(refused.value).startswith("cannot write the vault under /proc/nope: ")
    assert "\n" not in str(refused.value)


def test_a_root_that_cannot_be_written_is_a_json_error_with_json(db, capsys):
    with pytest.raises(SystemExit) as refused:
        call_command("export_vault", "--root", "/proc/nope", "--json")

    assert refused.value.code == 2
    assert "/proc/nope" in json.loads(capsys.readouterr().out)["error"]
