"""The inbox names each notice by what it is: the accountability digest is not the ideas digest."""

import pytest

from opportunities.models import NoticeLane
from opportunities.notices import notify

pytestmark = pytest.mark.django_db


def test_the_accountability_digest_is_labelled_as_such(client, settings):
    settings.STAGE_PUBLIC = True
    notify(NoticeLane.ACCOUNTABILITY, "Accountability 2026-03-02", "- devops", dedupe_key="a:1")
    notify(NoticeLane.DIGEST, "Ideas digest 2026-03-02", "- I1", dedupe_key="d:1")

    inbox = client.get("/stage/inbox").content.decode()

    assert "Daily accountability digest: Accountability 2026-03-02" in inbox
    assert "Daily ideas digest: Accountability" not in inbox
    assert "Daily ideas digest: Ideas digest 2026-03-02" in inbox
