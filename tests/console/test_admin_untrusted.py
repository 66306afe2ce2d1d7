"""Text a model, a chat or an outside runtime wrote is shown inert on the admin's pages as on the
Stage: a character that hides or reorders text is named where it stands (⟨U+202E⟩) in read-only
fields, inline rows and changelist columns, so 'disk U+202E evil' cannot read 'disk live'."""

from pathlib import Path

import django
import pytest
from django.urls import reverse

from missions.models import Comment, Proposal, StepAttempt
from opscore.actions import record_event
from tests.factories import make_step

pytestmark = pytest.mark.django_db
HIDDEN = "disk \u202eevil\u200b"
SHOWN = "disk ⟨U+202E⟩evil⟨U+200B⟩"
OURS, DJANGOS = (
    Path("templates/admin"),
    Path(django.__file__).parent / "contrib/admin/templates/admin",
)


def page_of(admin_client, name, *args) -> str:
    page = admin_client.get(reverse(f"admin:{name}", args=args))
    assert page.status_code == 200
    return page.content.decode()


def test_a_proposals_raw_steps_show_each_hidden_character_by_name(admin_client, agent):
    proposal = Proposal.objects.create(
        agent=agent,
        title="Check the disk",
        source="api",
        proposed_steps=[{"kind": "analyze", "payload": {"topic": HIDDEN}}],
    )

    html = page_of(admin_client, "missions_proposal_change", proposal.id)

    assert "\u202e" not in html and "\u200b" not in html
    assert f"&quot;topic&quot;: &quot;{SHOWN}&quot;" in html  # escaped once, as before


def test_changelist_columns_show_an_events_title_and_a_comments_text_revealed(admin_client, agent):
    step = make_step("analyze", agent=agent)
    record_event("step.failed", f"failed: {HIDDEN}", agent=agent)
    Comment.objects.create(
        subject_kind="mission", subject_id=step.mission_id, kind="remark", agent=agent,
        actor="operator:ann", text=HIDDEN, mission_id=step.mission_id,
    )  # fmt: skip

    for name in ("opscore_event_changelist", "missions_comment_changelist"):
        html = page_of(admin_client, name)

        assert "\u202e" not in html and SHOWN in html, name
        assert "&lt;td" not in html and "&lt;th" not in html  # the cells' markup stays markup


def test_an_inline_rows_read_only_cell_is_revealed(admin_client, agent):
    from missions.execution import claim_next_step

    step = make_step("noop", agent=agent)
    claim_next_step("w1")
    StepAttempt.objects.filter(step=step).update(error=HIDDEN)

    html = page_of(admin_client, "missions_step_change", step.id)

    assert "\u202e" not in html and SHOWN in html


CONTENTS = "{{ field.contents }}", "{{ field.contents|reveal }}"
CELLS = "{% for item in result %}{{ item }}", "{% for item in result %}{{ item|reveal }}"


@pytest.mark.parametrize(
    "template, edit",
    [
        ("includes/fieldset.html", CONTENTS),
        ("edit_inline/tabular.html", CONTENTS),
        ("change_list_results.html", CELLS),
    ],
)
def test_the_overridden_admin_templates_are_djangos_own_but_for_the_reveal(template, edit):
    """A Django upgrade that changes one of these templates fails here, not silently."""
    djangos, ours = edit
    header, rest = (OURS / template).read_text().split("\n", 1)
    original = (DJANGOS / template).read_text()

    assert header.startswith("{% load untrusted %}")
    assert rest.count("|reveal") == rest.count(ours) == original.count(djangos) == 1
    assert rest.replace(ours, djangos) == original
