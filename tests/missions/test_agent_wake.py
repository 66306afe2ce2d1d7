"""The wake hook: an outside runtime is told (seed 004's POST /hooks/agent, through the outbox,
with a deadline) that its agent has work waiting; a runtime that cannot be reached keeps the
failure on the row and its jobs wait for its next claim."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from missions.models import OutboxMessage
from missions.outbox import deliver_pending
from missions.wake import wake_external_agents
from opscore.db import db_now
from opscore.models import Agent, Event, Runtime
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def runtime():
    """A real HTTP endpoint standing in for the runtime's /hooks/agent."""
    received, answers = [], []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            status, reply = answers.pop(0) if answers else (200, {"runId": "run-42"})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply if isinstance(reply, bytes) else json.dumps(reply).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/agent", received, answers
    server.shutdown()


def test_a_new_job_wakes_its_outside_runtime_once(runtime, settings):
    url, received, _ = runtime
    settings.OPS_AGENT_HOOK_TOKEN = "hook-secret-123456"
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    make_step("noop", agent=agent), make_step("noop", agent=agent)

    assert (wake_external_agents(), wake_external_agents()) == (1, 0)
    deliver_pending()

    (path, headers, body) = received[0]
    assert path == "/hooks/agent" and headers["Authorization"] == "Bearer hook-secret-123456"
    assert body["agentId"] == "openclaw-ops" and body["wakeMode"] == "now"
    assert body["deliver"] is False
    wake = OutboxMessage.objects.get()
    assert (wake.status, wake.external_id) == ("delivered", "run-42")


def test_an_unreachable_runtime_keeps_the_failure_on_the_wake(runtime):
    url, _, answers = runtime
    answers.append((503, {"error": "restarting"}))
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    make_step("noop", agent=agent)

    wake_external_agents(), deliver_pending()

    wake = OutboxMessage.objects.get()
    assert wake.status == "pending" and wake.attempts == 1 and "503" in wake.last_error


def test_only_external_agents_with_a_wake_url_are_woken(runtime):
    url = runtime[0]
    make_step("noop", agent=AgentFactory(slug="devops", wake_url=url))
    make_step("noop", agent=AgentFactory(slug="poller", runtime=Runtime.EXTERNAL))
    make_step(
        "dev.code_change", agent=AgentFactory(slug="coder", runtime=Runtime.EXTERNAL, wake_url=url)
    )

    assert wake_external_agents() == 0


def test_a_runtime_trickling_its_answer_is_cut_off_at_the_wake_timeout(settings):
    """Each read arriving in time is not enough: the wake is over within
    OPS_AGENT_WAKE_TIMEOUT_SECONDS in all, and the failure stays on the row for a retry."""
    from tests.trickler import Trickler

    far = Trickler()
    settings.OPS_AGENT_WAKE_TIMEOUT_SECONDS = 1
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=far.url)
    make_step("noop", agent=agent)

    wake_external_agents(), deliver_pending()
    far.close()

    wake = OutboxMessage.objects.get()
    assert far.cut_off
    assert wake.status == "pending" and wake.attempts == 1 and "timed out" in wake.last_error


@pytest.mark.parametrize(
    "unusable, said",
    [
        ("{scheme}://{host}:{aliased}{path}", "'s port is not a number from 1 to 65535"),
        ("http://[::1/hooks/agent", " does not parse"),
    ],
    ids=["port past 65535 (httpx sends it to the port modulo 65536)", "unclosed IPv6 host"],
)
def test_a_wake_url_stored_before_it_was_checked_is_a_failed_wake_saying_why(
    runtime, unusable, said
):
    """The validator guards new URLs; one stored before it is checked before any send: the
    wake fails for good with the reason (an alert says so) and nothing reaches any address."""
    url, received, _ = runtime
    parts = urlsplit(url)
    aliased = parts.port + 65536
    wake_url = unusable.format(
        scheme=parts.scheme, host=parts.hostname, aliased=aliased, path=parts.path
    )
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    Agent.objects.filter(pk=agent.pk).update(wake_url=wake_url)  # as a row from before
    make_step("noop", agent=agent)

    wake_external_agents(), deliver_pending()

    wake = OutboxMessage.objects.get()
    assert wake.status == "failed" and f"unusable wake URL: the URL{said}" in wake.last_error
    assert received == []
    assert Event.objects.filter(kind="outbox.failed").count() == 1


def test_a_refused_wake_never_quotes_a_token_its_url_carries(runtime):
    """A hook's URL may carry its key (`?token=…`, as chat webhooks do): a refusal's reason is
    kept on the outbox row and, once it gives up, in an event on the Stage."""
    url, _, answers = runtime
    answers.extend([(404, {"error": "no such hook"})] * 5)
    agent = AgentFactory(
        slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=f"{url}?token=s3cretvalue123"
    )
    make_step("noop", agent=agent)

    wake_external_agents(), deliver_pending()

    wake = OutboxMessage.objects.get()
    assert "404" in wake.last_error and "s3cretvalue123" not in wake.last_error


@pytest.mark.parametrize(
    "reply",
    [b"ok", {"runId": "r" * 300}, {"taskId": "task\u0000-7"}, {"runId": ["a", "list"]}],
    ids=["plain text", "a run id longer than the column", "a NUL in the id", "not a string"],
)
def test_a_wake_the_runtime_took_is_delivered_whatever_its_answer_says(runtime, reply):
    """A 2xx is the runtime taking the wake; what its body says is only a reference. A body
    that is not JSON, or an id no row holds, failed the delivery, and the wake went out again
    on every retry until the outbox gave up with an alert."""
    url, received, answers = runtime
    answers.append((200, reply))
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    make_step("noop", agent=agent)

    wake_external_agents(), deliver_pending()

    wake = OutboxMessage.objects.get()
    assert (wake.status, wake.attempts, len(received)) == ("delivered", 1, 1)
    assert wake.external_id == f"wake-{wake.id}"


def test_a_wake_queued_before_its_agent_was_disabled_waits_until_it_is_enabled(runtime):
    """disable-agent stops everything the agent does: a wake already in the outbox told its
    runtime 'Opscore has work waiting … claim it' for an agent that may take none."""
    from opscore.overrides import apply_override, lift_override

    url, received, _ = runtime
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    make_step("noop", agent=agent)
    wake_external_agents()
    switch = apply_override("disable_agent", agent.slug, reason="odd", actor="operator:ann")

    deliver_pending()

    wake = OutboxMessage.objects.get()
    assert (wake.status, wake.attempts, received) == ("pending", 0, [])
    assert wake.last_error == f"held: openclaw-ops is disabled (override {switch.id}: odd)"
    lift_override(switch.id, actor="operator:ann", reason="fine")
    OutboxMessage.objects.update(next_attempt_at=db_now())
    deliver_pending()
    assert OutboxMessage.objects.get().status == "delivered" and len(received) == 1


def test_a_wake_for_a_job_in_a_paused_lane_waits_until_the_lane_runs_again(runtime):
    """claim-jobs hands out no job of a paused lane, yet its wake still told the runtime
    'Opscore has work waiting … claim it', queued before the pause or written during it."""
    from opscore.overrides import apply_override, lift_override

    url, received, _ = runtime
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    make_step("deploy", agent=agent, payload={"target": "prod"})
    wake_external_agents()
    pause = apply_override("pause_lane", "coding", reason="freeze", actor="operator:ann")

    deliver_pending()

    wake = OutboxMessage.objects.get()
    assert (wake.status, wake.attempts, received) == ("pending", 0, [])
    assert wake.last_error == f"held: lane coding paused (queue) by override {pause.id}: freeze"
    make_step("deploy", agent=agent, payload={"target": "staging"})
    wake.delete()
    assert wake_external_agents() == 0
    lift_override(pause.id, actor="operator:ann", reason="thawed")
    assert wake_external_agents() == 1
    deliver_pending()
    assert OutboxMessage.objects.get().status == "delivered" and len(received) == 1


def test_a_wake_for_a_job_of_a_paused_mission_waits_until_it_is_resumed(runtime):
    """claim-jobs hands out no job of a paused mission, yet its wake told the runtime to claim
    one: the wake spent, nothing claimed, and once resumed no wake was left to send."""
    from missions.mission_control import pause_mission, resume_mission

    url, received, _ = runtime
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    step = make_step("noop", agent=agent)
    wake_external_agents()
    pause_mission(step.mission_id, actor="operator:ann", reason="vendor call")

    deliver_pending()

    wake = OutboxMessage.objects.get()
    assert (wake.status, wake.attempts, received) == ("pending", 0, [])
    assert wake.last_error == f"held: mission M{step.mission_id} is paused: vendor call"
    wake.delete()
    assert wake_external_agents() == 0
    resume_mission(step.mission_id, actor="operator:ann", reason="back")
    assert wake_external_agents() == 1
    deliver_pending()
    assert OutboxMessage.objects.get().status == "delivered" and len(received) == 1


def test_a_wake_for_a_job_of_a_drained_kind_waits_until_the_drain_is_lifted(runtime):
    from opscore.overrides import apply_override, lift_override

    url, received, _ = runtime
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, wake_url=url)
    make_step("noop", agent=agent)
    wake_external_agents()
    drain = apply_override("drain", "kind:noop", reason="vendor down", actor="operator:ann")

    deliver_pending()

    wake = OutboxMessage.objects.get()
    assert (wake.status, wake.attempts, received) == ("pending", 0, [])
    assert wake.last_error == "held: workers for noop are switched off"
    lift_override(drain.id, actor="operator:ann", reason="vendor back")
    OutboxMessage.objects.update(next_attempt_at=db_now())
    deliver_pending()
    assert OutboxMessage.objects.get().status == "delivered" and len(received) == 1
