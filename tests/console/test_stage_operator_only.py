"""Watching the Stage is not operating it: a signed-in person without staff and the admin's
permission for the same change sees the Stage but is refused (403, with the reason) when they
give a task, pause a mission, rate, dismiss, comment or chat."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from console.asgi import application
from console.models import ChatMessage
from missions.models import Comment, Feedback, Mission, Proposal
from opscore.models import Event
from tests.console.test_stage import run_on_a_loop
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def signed_in(client, name="viewer", staff=False, *codenames):
    user = get_user_model().objects.create_user(name, password="x", is_staff=staff)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def test_a_signed_in_non_staff_user_watches_but_cannot_give_a_task(client, agent):
    signed_in(client)

    assert client.get("/stage/").status_code == 200
    answer = client.post("/stage/task", {"agent": "devops", "kind": "analyze", "title": "Go"})

    assert answer.status_code == 403
    assert "acting on it needs a staff account" in answer.content.decode()
    assert not Proposal.objects.exists()


def test_a_signed_in_non_staff_user_cannot_pause_a_mission(client, db):
    mission = make_step().mission
    signed_in(client)

    answer = client.post(
        f"/stage/missions/{mission.id}/control", {"verb": "pause", "reason": "because"}
    )

    assert answer.status_code == 403
    assert not Mission.objects.get(pk=mission.id).paused_at


def test_staff_without_the_admins_permission_is_refused_and_named_what_it_lacks(client, db):
    mission = make_step().mission
    signed_in(client, "staffer", True)

    answer = client.post(
        f"/stage/missions/{mission.id}/control", {"verb": "pause", "reason": "because"}
    )

    assert answer.status_code == 403
    assert "missions.change_mission" in answer.content.decode()
    assert not Mission.objects.get(pk=mission.id).paused_at


def test_staff_with_the_admins_permission_pauses_from_the_stage(client, db):
    mission = make_step().mission
    signed_in(client, "staffer", True, "change_mission")

    answer = client.post(
        f"/stage/missions/{mission.id}/control", {"verb": "pause", "reason": "because"}
    )

    assert answer.status_code == 302
    assert Mission.objects.get(pk=mission.id).paused_at


def test_rating_commenting_and_chatting_are_operator_actions_too(client, db):
    mission = make_step().mission
    signed_in(client)

    answers = [
        client.post(f"/stage/missions/{mission.id}/feedback", {"rating": "up", "reason": "x"}),
        client.post(f"/stage/threads/mission/{mission.id}/comment", {"text": "hello"}),
        client.post("/stage/chat/send", {"text": "pause everything"}),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    assert not (Feedback.objects.exists() or Comment.objects.exists())
    assert not ChatMessage.objects.exists()


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_login(client, agent):
    answer = client.post("/stage/task", {"agent": "devops", "kind": "analyze", "title": "Go"})

    assert answer.status_code == 302 and "/login" in answer["Location"]


@pytest.mark.django_db(transaction=True)
def test_the_stage_socket_only_pushes_and_takes_no_action():
    """Nothing sent up the socket is read: every action goes through the guarded views. A
    frame asking for one only closes the socket (1003)."""
    ask = {"type": "give_task", "agent": "devops", "kind": "analyze", "title": "Go"}

    async def scenario():
        headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
        socket = WebsocketCommunicator(application, "/ws/stage/", headers=headers)
        assert (await socket.connect())[0]
        await database_sync_to_async(Event.objects.create)(kind="test", title="live")
        assert "live" in (await socket.receive_json_from(timeout=5))["html"]
        await socket.send_json_to(ask)
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1003}

    run_on_a_loop(scenario)
    assert not Proposal.objects.exists()


def test_a_watcher_is_told_why_rather_than_offered_forms_that_refuse_them(client, db):
    """A form whose every submission answers 403 is a trap: the page says why instead."""
    mission = make_step().mission
    signed_in(client, "nina")

    pages = {
        "/stage/": 'hx-post="/stage/task"',
        f"/stage/missions/{mission.id}": f'action="/stage/missions/{mission.id}/',
        f"/stage/threads/mission/{mission.id}": 'action="/stage/threads/',
        "/stage/chat": 'action="/stage/chat/send"',
    }
    for page, form in pages.items():
        body = client.get(page).content.decode()
        assert form not in body, page
        assert "nina may watch the Stage; acting on it needs a staff account" in body, page


def test_an_operator_with_the_permissions_is_offered_every_form(client, agent):
    mission = make_step().mission
    signed_in(client, "op", True, "change_mission", "add_feedback", "add_comment")

    assert 'hx-post="/stage/task"' in client.get("/stage/").content.decode()
    page = client.get(f"/stage/missions/{mission.id}").content.decode()
    assert f'action="/stage/missions/{mission.id}/control"' in page
    assert f'action="/stage/missions/{mission.id}/feedback"' in page
    thread = client.get(f"/stage/threads/mission/{mission.id}").content.decode()
    assert f'action="/stage/threads/mission/{mission.id}/comment"' in thread
    assert 'action="/stage/chat/send"' in client.get("/stage/chat").content.decode()


def test_a_refused_form_post_answers_a_stage_page_not_a_bare_line(client, db):
    """A plain form post (not htmx) replaces the whole page: the refusal keeps the Stage's
    frame and a way back, rather than one unstyled line on a blank page."""
    mission = make_step().mission
    signed_in(client, "nina")

    answer = client.post(f"/stage/threads/mission/{mission.id}/comment", {"text": "hello"})

    body = answer.content.decode()
    assert answer.status_code == 403
    assert body.lstrip().lower().startswith("<!doctype html>")
    assert "acting on it needs a staff account" in body
    assert 'href="/stage/"' in body
    htmx = client.post("/stage/task", {"title": "Go"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 403
    assert not htmx.content.decode().lstrip().lower().startswith("<!doctype")


def test_a_refused_stage_action_is_recorded_as_a_refused_approval_is(client, db):
    """Who tried what, refused why: the same evidence a refused decision leaves."""
    mission = make_step().mission
    signed_in(client, "nina")

    client.post(f"/stage/missions/{mission.id}/control", {"verb": "pause", "reason": "x"})

    refused = Event.objects.get(kind="stage.action_refused")
    assert refused.actor == "operator:nina"
    assert refused.payload == {
        "action": "stage-mission-control",
        "path": f"/stage/missions/{mission.id}/control",
        "reason": "nina may watch the Stage; acting on it needs a staff account",
    }


def test_a_refusal_for_a_user_with_a_long_name_is_a_403_and_a_row_not_a_500(client, db):
    """A username may be 150 characters; 'operator:' and it no longer fitted the actor column,
    so recording the refusal failed the request."""
    mission = make_step().mission
    name = "w" * 145
    signed_in(client, name)

    answer = client.post(f"/stage/missions/{mission.id}/control", {"verb": "pause"})

    assert answer.status_code == 403
    refused = Event.objects.get(kind="stage.action_refused")
    assert refused.actor.startswith(f"operator:{name[:100]}") and len(refused.actor) <= 150


def test_a_refusal_names_the_user_without_the_characters_that_reorder_its_sentence(client, db):
    mission = make_step().mission
    signed_in(client, "tess\u202eevil")

    answer = client.post(f"/stage/missions/{mission.id}/control", {"verb": "pause"})

    assert answer.status_code == 403
    assert "tessevil may watch the Stage" in answer.content.decode()
    assert Event.objects.get(kind="stage.action_refused").actor == "operator:tessevil"
