"""An empty Stage panel says why it is empty and what fills it, instead of a bare feed or a board
of dashes: the feed before anything happened (or when no event matches its filters), the coding
board before any run, the opportunities board before any opportunity."""

import pytest

from opscore.actions import record_event

pytestmark = pytest.mark.django_db


def test_an_empty_feed_says_nothing_has_happened_yet(client):
    page = client.get("/stage/").content.decode()

    assert '<li class="feed-empty">Nothing has happened yet: each proposal' in page


def test_a_filtered_feed_with_no_match_says_so(client, agent):
    record_event("step.succeeded", "done", agent=agent)

    everything = client.get("/stage/").content.decode()
    filtered = client.get("/stage/", {"agent": "nobody"}).content.decode()

    assert "feed-empty" not in everything
    assert '<li class="feed-empty">No event matches these filters.</li>' in filtered


def test_an_empty_coding_board_says_how_a_run_starts(client):
    page = client.get("/stage/coding").content.decode()

    assert "No coding runs yet. A run starts when a human approves a coding job" in page
    assert "<code>.venv/bin/opscore coding register</code>" in page


def test_an_empty_opportunities_board_says_who_proposes_them(client):
    page = client.get("/stage/opportunities").content.decode()

    assert "No opportunities yet. The phase-3 scouts" in page
    assert "<code>agentbus create-opportunity</code>" in page
