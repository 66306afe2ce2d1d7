"""A lane's panel on the Stage names the lane's pause (override, since when, why) and what it
holds, as /stage/conversations does: the coding board's 'Running 0 of 2 allowed · queued: …',
the memory panel's waiting candidates and the opportunities board read as if work went on."""

import pytest

from opscore.overrides import apply_override

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def pause(target: str):
    return apply_override("pause-lane", target, reason="quiet <week>", actor="operator:ann")


def test_the_coding_board_names_the_pause_and_says_no_run_starts(client):
    held = pause("coding")

    board = client.get("/stage/coding", headers=HX).content.decode()

    assert f"The coding lane is paused</b> by override {held.id} since " in board
    assert "quiet &lt;week&gt;" in board
    assert "No run starts, merges or is adopted: queued runs wait for the lift." in board
    assert "Running <b>0</b> of 2 allowed, none starting while paused" in board


def test_a_dropping_pause_says_new_work_is_refused(client):
    pause("coding:drop")

    board = client.get("/stage/coding", headers=HX).content.decode()

    assert " (drop): quiet &lt;week&gt;. No run starts" in board
    assert "new coding work is refused at the intake" in board


def test_the_memory_panel_names_the_pause_and_says_nothing_is_promoted(client, operator):
    client.force_login(operator)
    held = pause("memory")

    panel = client.get("/stage/memory").content.decode()

    assert f"The memory lane is paused</b> by override {held.id}" in panel
    assert "Nothing is promoted: candidates wait" in panel


def test_the_opportunities_board_names_a_pause_of_its_scouts(client, operator):
    client.force_login(operator)
    held = pause("opportunities")  # the name operators may type for the proactive lane

    board = client.get("/stage/opportunities").content.decode()

    assert f"The proactive lane is paused</b> by override {held.id}" in board
    assert "No scout, digest or curation order runs" in board


def test_running_lanes_show_no_pause(client, operator):
    client.force_login(operator)
    pages = ["/stage/coding", "/stage/memory", "/stage/opportunities"]

    assert all("lane is paused" not in client.get(page).content.decode() for page in pages)
