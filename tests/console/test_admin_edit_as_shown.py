"""An edit page writes what the operator changed on it, judged against what the page showed:
a column a workflow moved while the page was open (a memory's confidence, calibrated by a
step's outcome; its review date, brought forward by a failure streak) keeps the workflow's
value. Django judged "changed" against the row as read at save time, so every such column
read as changed and the page's stale value was written back, and the revision row said the
operator had made that change."""

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from memory.models import Memory
from opscore.db import db_now

pytestmark = pytest.mark.django_db


class FormFields(HTMLParser):
    """What a browser would post from the page's one form: its inputs, textareas, selects."""

    def __init__(self):
        super().__init__()
        self.data, self.textarea, self.select = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox"):
            self.data[name] = attrs.get("value") or ""
        elif tag == "input" and name and "checked" in attrs:
            self.data[name] = attrs.get("value") or "on"
        elif tag == "textarea":
            self.textarea, self.data[name] = name, ""
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in attrs:
            self.data[self.select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        self.textarea = None if tag == "textarea" else self.textarea
        self.select = None if tag == "select" else self.select

    def handle_data(self, data):
        if self.textarea:  # the parser drops the newline right after <textarea>
            self.data[self.textarea] += data.removeprefix("\n")


def shown_form(admin_client, url: str) -> dict:
    parser = FormFields()
    parser.feed(admin_client.get(url).content.decode())
    return parser.data


def test_editing_a_memorys_title_keeps_the_confidence_calibrated_meanwhile(admin_client, agent):
    memory = Memory.objects.create(
        agent=agent, type="lesson", content="db-1 fills on Fridays", title="Disks",
        confidence=Decimal("0.70"), source_trace_id="t", next_review_at=db_now() + timedelta(30),
    )  # fmt: skip
    url = f"/admin/memory/memory/{memory.id}/change/"
    form = shown_form(admin_client, url)
    due = db_now()
    Memory.objects.filter(pk=memory.pk).update(confidence=Decimal("0.55"), next_review_at=due)

    saved = admin_client.post(url, form | {"title": "Disks on db-1", "reason": "clearer"})

    memory.refresh_from_db()
    assert saved.status_code == 302
    assert (memory.title, memory.confidence, memory.next_review_at) == (
        "Disks on db-1",
        Decimal("0.55"),
        due,
    )
    assert memory.revisions.get().new == {"title": "Disks on db-1"}
