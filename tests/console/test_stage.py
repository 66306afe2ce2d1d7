"""The Stage page and its live feed."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from console.asgi import application
from missions.models import Proposal
from opscore.models import Event
from tests.factories import propose


@pytest.mark.django_db
def test_the_stage_shows_events_escaped_under_a_strict_policy(client, agent):
    Event.objects.create(kind="conversation.turn", title="<script>alert('x')</script>", agent=agent)

    page = client.get("/stage/")

    assert page.status_code == 200
    assert b"&lt;script&gt;alert(" in page.content
    assert b"<script>alert(" not in page.content
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert b"Offline LLM provider" in page.content


@pytest.mark.django_db
def test_a_private_stage_asks_for_a_login(client, settings):
    settings.STAGE_PUBLIC = False

    assert client.get("/stage/").status_code == 302
    assert client.get("/stage/health").status_code == 403


@pytest.mark.django_db
def test_give_task_answers_in_place_through_the_intake(admin_client, agent):
    accepted = admin_client.post(
        "/stage/task", {"agent": "devops", "kind": "analyze", "title": "Check disks"}
    )
    pending = admin_client.post(
        "/stage/task", {"agent": "devops", "kind": "deploy", "title": "Ship it"}
    )
    invalid = admin_client.post("/stage/task", {"agent": "devops", "kind": "warp", "title": "x"})

    assert b"Accepted" in accepted.content
    assert b"Pending" in pending.content
    assert invalid.status_code == 400 and b"unknown step kind" in invalid.content
    proposal = Proposal.objects.get(title="Check disks")
    assert (proposal.source, proposal.operator.username) == ("human", "operator")


@pytest.mark.django_db
def test_give_task_needs_a_signed_in_operator(client, agent):
    assert client.post("/stage/task", {"agent": "devops", "title": "x"}).status_code == 302
    assert not Proposal.objects.exists()


@pytest.mark.django_db
def test_older_events_load_by_cursor_in_bounded_pages(client, agent):
    for n in range(120):
        Event.objects.create(kind="test", title=f"event {n}")
    newest = Event.objects.order_by("-id").first().id

    page = client.get(f"/stage/events?before={newest}")

    assert page.content.count(b'class="event') == 50
    assert f"event-{newest}".encode() not in page.content


async def connect(path="/ws/stage/?after=0", origin=b"http://127.0.0.1:8000"):
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    )
    connected, _ = await communicator.connect()
    return communicator, connected


def run_on_a_loop(scenario) -> None:
    """Run a socket scenario, then stop what it started on its loop (the Stage's bridge and
    relay, the sockets' catch-up reads) while this thread still serves the sync calls their
    cleanup makes: asgiref cancels leftovers only after it stopped serving, and a task whose
    cancel waits on a database call would wait forever."""

    async def then_settle():
        await scenario()
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            _, stuck = await asyncio.wait(leftovers, timeout=10)
            assert not stuck, f"tasks that would not stop: {stuck}"

    async_to_sync(then_settle)()


@pytest.mark.django_db(transaction=True)
def test_an_event_written_elsewhere_reaches_the_socket_and_reconnects_catch_up(agent):
    async def scenario():
        communicator, connected = await connect()
        assert connected
        await _write_event("first")
        first = json.loads(await communicator.receive_from(timeout=5))
        assert "first" in first["html"]
        await communicator.disconnect()
        await _write_event("while away")
        again, _ = await connect(f"/ws/stage/?after={first['last_id']}")
        caught_up = json.loads(await again.receive_from(timeout=5))
        assert "while away" in caught_up["html"] and "first" not in caught_up["html"]
        await again.disconnect()

    run_on_a_loop(scenario)


@pytest.mark.django_db(transaction=True)
def test_foreign_origins_are_refused():
    async def scenario():
        _, connected = await connect(origin=b"https://evil.example")
        assert not connected

    run_on_a_loop(scenario)


@pytest.mark.django_db(transaction=True)
def test_a_cursor_that_is_not_utf8_connects_from_the_newest_event():
    """The query string reaches the socket as raw bytes (uvicorn passes a 0xff on): it used to
    be decoded as UTF-8 and the connection died in a traceback."""

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            "/ws/stage/",
            headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")],
        )
        communicator.scope["query_string"] = b"after=\xff"
        connected, _ = await communicator.connect()
        assert connected
        await _write_event("after the odd cursor")
        batch = json.loads(await communicator.receive_from(timeout=5))
        assert "after the odd cursor" in batch["html"]
        await communicator.disconnect()

    run_on_a_loop(scenario)


async def _write_event(title):
    from channels.db import database_sync_to_async

    await database_sync_to_async(Event.objects.create)(kind="test", title=title)


@pytest.mark.django_db
def test_the_office_follows_live_data(client, agent, clock):
    clock.midday()  # the work made and the office's 'today' are one day
    from console.stage.scenes import sky_for
    from missions.execution import claim_next_step
    from roundtable.models import Conversation
    from tests.factories import AgentFactory, make_step

    make_step("noop", agent=agent)
    claim_next_step("w1")
    AgentFactory(slug="chatty")
    AgentFactory(slug="idle")
    Conversation.objects.create(
        format="debate", topic="x", participants=["chatty"], status="running"
    )

    page = client.get("/stage/office")

    html = page.content.decode()
    assert "state-working" in html.split('data-agent="devops"')[0][-80:]
    assert "state-chatting" in html.split('data-agent="chatty"')[0][-80:]
    assert "state-coffee" in html.split('data-agent="idle"')[0][-80:]
    assert "missions today 1" in html
    assert (sky_for(12), sky_for(19), sky_for(2)) == ("day", "dusk", "night")


@pytest.mark.django_db
def test_the_swimlane_draws_a_bar_per_step_coloured_by_status(client, agent):
    from missions.worker import handle_one_step
    from tests.factories import make_step

    step = make_step("noop", agent=agent)
    handle_one_step("w1")

    page = client.get("/stage/swimlane")

    assert f"S{step.id} noop succeeded".encode() in page.content
    assert b'class="bar status-succeeded shape-ran"' in page.content


@pytest.mark.django_db
def test_playback_lists_a_missions_events_in_order(client, agent):
    from missions.models import Mission
    from missions.worker import handle_one_step

    proposal = propose(agent, "noop")
    handle_one_step("w1")
    mission = Mission.objects.get(proposal=proposal)

    page = client.get(f"/stage/missions/{mission.id}/playback")

    html = page.content.decode()
    order = [
        html.index(kind) for kind in ("proposal.accepted", "step.succeeded", "mission.succeeded")
    ]
    assert order == sorted(order)
    assert 'id="play"' in html and 'id="step"' in html
    assert client.get("/stage/missions/999999/playback").status_code == 404


@pytest.mark.django_db
def test_the_missions_panel_loads_alone_with_steps_attempts_and_artifacts(client, agent):
    from missions.worker import handle_one_step
    from tests.factories import make_step

    step = make_step("analyze", agent=agent, payload={"topic": "disks"})
    handle_one_step("w1")

    panel = client.get("/stage/missions")

    html = panel.content.decode()
    assert f"S{step.id}" in html and "attempts 1/3" in html
    assert "analyze (trusted): [offline" in html


@pytest.mark.django_db
def test_a_failing_panel_shows_a_message_and_a_retry(client, monkeypatch):
    from django.db import DatabaseError

    def broken(*args, **kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr("console.stage.views.Mission.objects.select_related", broken)

    panel = client.get("/stage/missions")

    assert panel.status_code == 200
    assert b"could not load (DatabaseError)" in panel.content
    assert b'hx-get="/stage/missions"' in panel.content


def redis_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_reachable(), reason="no Redis on loopback")
@pytest.mark.django_db(transaction=True)
def test_with_redis_the_shared_channel_layer_carries_events(settings, agent):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]},
        }
    }
    channel_layers.backends.clear()

    async def scenario():
        communicator, connected = await connect()
        assert connected
        await _write_event("through redis")
        pushed = json.loads(await communicator.receive_from(timeout=5))
        assert "through redis" in pushed["html"]
        await communicator.disconnect()

    try:
        run_on_a_loop(scenario)
    finally:
        channel_layers.backends.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("odd", ["x", -1, 0, 1.5, [1], {}, True])
def test_an_events_payload_cannot_break_the_stage_for_everyone(client, agent, odd):
    """An outside runtime writes any payload it likes: a conversation id that is not one is
    shown without a link, and the feed goes on (the row is append-only: it would stay)."""
    Event.objects.create(
        kind="ops.note", title="odd", agent=agent, payload={"conversation_id": odd}
    )
    Event.objects.create(kind="ops.note", title="after it", agent=agent)

    page, feed = client.get("/stage/"), client.get("/stage/events")

    assert page.status_code == feed.status_code == 200
    assert b"after it" in feed.content and b"/stage/conversations/" not in feed.content
