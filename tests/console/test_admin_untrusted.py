"""Text a model, a chat or an outside runtime wrote is shown inert on the admin's pages as on the
Stage: a character that hides or reorders text is named where it stands (⟨U+202E⟩) in read-only
fields, inline rows and changelist columns, and in the names every page carries (the browser tab's
title, the heading, the breadcrumb, a message, the recent actions, a confirmation's list, a
deletion's sentence and objects, the overrides in force), so
'disk U+202E evil' cannot read 'disk live'."""

import re
from pathlib import Path

import django
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from coding.models import Repository
from missions.models import Comment, Proposal, StepAttempt
from opscore.actions import record_event
from opscore.models import Override
from opscore.overrides import apply_override
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


def test_a_change_pages_tab_title_breadcrumb_and_heading_name_each_hidden_character(
    admin_client, agent
):
    proposal = Proposal.objects.create(agent=agent, title=HIDDEN, source="api", proposed_steps=[])

    change = page_of(admin_client, "missions_proposal_change", proposal.id)
    history = page_of(admin_client, "missions_proposal_history", proposal.id)

    named = f"P{proposal.id} {SHOWN}"
    assert "\u202e" not in change + history and "\u200b" not in change + history
    assert f"<title>{named} | Change proposal |" in change
    assert f"&rsaquo; {named}\n</div>" in change  # the breadcrumb
    assert f"<h2>{named}</h2>" in change
    assert f"<title>Change history: {named} |" in history
    assert f'/change/">{named}</a>\n&rsaquo; History' in history
    assert f"<h1>Change history: {named}</h1>" in history


def test_a_decisions_message_and_the_recent_actions_name_each_hidden_character(
    admin_client, operator, agent
):
    proposal = Proposal.objects.create(agent=agent, title="Check", source="api", proposed_steps=[])
    LogEntry.objects.create(
        user=operator, content_type=ContentType.objects.get_for_model(Proposal),
        object_id=str(proposal.id), object_repr=HIDDEN, action_flag=CHANGE,
    )  # fmt: skip

    decided = admin_client.post(
        reverse("admin:missions_proposal_decide", args=[proposal.id]),
        {"decision": "reject", "reason": HIDDEN},
        follow=True,
    ).content.decode()
    index = page_of(admin_client, "index")

    message = decided.split('<ul class="messagelist">')[1].split("</ul>")[0]
    assert "\u202e" not in message and "rejected: disk evil" in message  # kept without them
    assert "\u202e" not in index and f">{SHOWN}</a>" in index  # My actions


def test_a_reasoned_actions_confirmation_lists_each_name_revealed(admin_client, agent):
    proposal = Proposal.objects.create(agent=agent, title=HIDDEN, source="api", proposed_steps=[])

    html = admin_client.post(
        reverse("admin:missions_proposal_changelist"),
        {"action": "reject_proposals", "_selected_action": [proposal.id]},
    ).content.decode()

    assert "\u202e" not in html and f"<li>P{proposal.id} — {SHOWN} (" in html


def test_a_delete_confirmation_names_each_hidden_character_in_its_sentence_and_its_list(
    admin_client,
):
    repo = Repository.objects.create(name=HIDDEN, path="/nowhere")  # trigger rules: none deleted

    one = page_of(admin_client, "coding_repository_delete", repo.id)
    selected = admin_client.post(
        reverse("admin:coding_repository_changelist"),
        {"action": "delete_selected", "_selected_action": [repo.id]},
    ).content.decode()

    assert "\u202e" not in one + selected and "\u200b" not in one + selected
    assert f'delete the repository "{SHOWN}"?' in one
    link = f'/admin/coding/repository/{repo.id}/change/">{SHOWN}</a></li>'
    assert link in one and link in selected  # the deleted objects' list, its links kept


def test_the_indexs_overrides_in_force_name_each_hidden_character(admin_client):
    """A reason is kept without them now (opscore.overrides.override_reason); one stored before
    that still has them, and is shown inert."""
    row = apply_override("pause-lane", "opportunities", reason="disk", actor="operator:ann")
    Override.objects.filter(pk=row.pk).update(reason=HIDDEN)

    index = page_of(admin_client, "index")

    assert "\u202e" not in index and f"— {SHOWN} (operator:ann" in index


TRUNCATED = 'original|truncatewords:"18"', 'object|truncatewords:"18"'
DELETING = "delete_confirmation.html", "delete_confirmation.html"
NAMED = "with escaped_object=object %", "with escaped_object=object|reveal %"


def listed(name: str) -> tuple[str, str]:
    return f"{{{{ {name}|unordered_list }}}}", f"{{{{ {name}|reveal_each|unordered_list }}}}"


REVEALED_BLOCKS = [  # ours, Django's, block, the values it reveals
    ("base_site.html", "base_site.html", "title", ["subtitle", "title"]),
    ("base_site.html", "base.html", "messages", ["message|capfirst"]),
    ("base_site.html", "base.html", "content_title", ["title"]),
    ("base_site.html", "base.html", "content_subtitle", ["subtitle"]),
    ("change_form.html", "change_form.html", "breadcrumbs", [TRUNCATED[0]]),
    ("object_history.html", "object_history.html", "breadcrumbs", [TRUNCATED[1]]),
    ("delete_confirmation.html", "delete_confirmation.html", "breadcrumbs", [TRUNCATED[1]]),
    ("index.html", "index.html", "sidebar", ["entry.object_repr"]),
    (*DELETING, "delete_forbidden", [NAMED, listed("perms_lacking")]),
    (*DELETING, "delete_protected", [NAMED, listed("protected")]),
    (*DELETING, "delete_confirm", [NAMED, listed("deleted_objects")]),
    (
        "delete_selected_confirmation.html",
        "delete_selected_confirmation.html",
        "content",
        [listed("perms_lacking"), listed("protected"), listed("deletable_object")],
    ),
]


@pytest.mark.parametrize("ours, djangos, block, values", REVEALED_BLOCKS)
def test_the_blocks_we_override_are_djangos_own_but_for_the_reveal(ours, djangos, block, values):
    """Names (an object's, a log entry's, a message's) go through reveal in every title, heading,
    breadcrumb and deletion's sentence, lists of them through reveal_each; a Django upgrade
    that changes one of these blocks fails here."""
    original = (DJANGOS / djangos).read_text()
    start = original.index(f"{{% block {block} %}}") + len(f"{{% block {block} %}}")
    inner = original[start : re.compile(r"{% endblock( \w+)? %}").search(original, start).start()]
    for value in values:
        djangos_text, ours_text = (
            value
            if isinstance(value, tuple)
            else (f"{{{{ {value} }}}}", f"{{{{ {value}|reveal }}}}")
        )
        assert djangos_text in inner
        inner = inner.replace(djangos_text, ours_text)

    assert inner.strip() in (OURS / ours).read_text()
