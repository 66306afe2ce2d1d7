"""A harness that needs its model's API reaches the hosts the operator listed and nothing else
(issue 26): its box's only way out is the egress proxy, which tunnels to listed host:port
pairs and refuses — and records — everything else. A local echo server stands in for the API."""

import json
import socket
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.egress import MAX_OPEN, EgressProxy, inward
from coding.models import CodingRun
from coding.sandbox import Limits, confinement_missing, refusal_notes, run_boxed
from opscore.http_deadline import LOOKUPS_AT_ONCE
from opscore.models import Event
from opscore.settings_parts.env import parse_host_ports
from tests.coding_support import HARNESS as FAKE_HARNESS
from tests.coding_support import new_run

box_needed = pytest.mark.skipif(
    bool(confinement_missing()), reason=f"this kernel cannot build the box: {confinement_missing()}"
)


@pytest.fixture
def echo_port():
    """A TCP server on the host's loopback that answers every line with `echo: <line>`."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.sendall(b"echo: " + client.recv(1024))

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def ask(path, request: bytes, then: bytes = b"") -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(request)
        answer = client.recv(1024)
        if then and answer.startswith(b"HTTP/1.1 200"):
            client.sendall(then)
            answer += client.recv(1024)
        return answer


def test_the_allow_list_is_strict():
    assert parse_host_ports("api.anthropic.com:443, API.openai.com:443") == [
        ("api.anthropic.com", 443),
        ("api.openai.com", 443),
    ]
    for bad in ("api.anthropic.com", "host:http", "host:70000", ":443"):
        with pytest.raises(ValueError):
            parse_host_ports(bad)


def test_the_proxy_tunnels_to_listed_hosts_and_refuses_and_records_the_rest(tmp_path, echo_port):
    allow = [("127.0.0.1", echo_port), ("localhost", echo_port)]
    with EgressProxy(tmp_path / "proxy.sock", allow) as proxy:
        target = f"127.0.0.1:{echo_port}".encode()
        tunnelled = ask(proxy.path, b"CONNECT " + target + b" HTTP/1.1\r\n\r\n", b"hi\n")
        other = ask(proxy.path, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
        plain = ask(proxy.path, b"GET http://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n")
        by_name = ask(proxy.path, f"CONNECT localhost:{echo_port} HTTP/1.1\r\n\r\n".encode())

    assert tunnelled == b"HTTP/1.1 200 Connection Established\r\n\r\necho: hi\n"
    assert other.startswith(b"HTTP/1.1 403") and plain.startswith(b"HTTP/1.1 403")
    assert by_name.startswith(b"HTTP/1.1 502")  # a listed name resolving to loopback
    reasons = {d["target"]: d["reason"] for d in proxy.refusals()[0]}
    assert reasons["example.com:443"] == "not in OPS_CODING_EGRESS"
    assert reasons["http://example.com/"].startswith("GET refused")
    assert "resolves only to inward addresses" in reasons[f"localhost:{echo_port}"]


def test_a_listed_name_the_resolver_never_answers_is_answered_502_at_the_connect_deadline(
    tmp_path, hung_resolver
):
    """The resolver takes no timeout: the proxy stops waiting for it when the connect's time is
    up, answers, and says why (the harness would otherwise wait for as long as it likes)."""
    allow = [("api.hung.test", 443)]
    with EgressProxy(tmp_path / "proxy.sock", allow, connect_seconds=0.5) as proxy:
        answer = ask(proxy.path, b"CONNECT api.hung.test:443 HTTP/1.1\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 502")
    assert proxy.refusals()[0] == [
        {
            "target": "api.hung.test:443",
            "reason": "could not connect: api.hung.test was not looked up within 0.5 s",
        }
    ]


def test_a_listed_name_past_the_most_lookups_at_once_is_answered_502_saying_why(
    tmp_path, hung_resolver
):
    hung_resolver.given_up_on(*(f"name-{n}.hung.test" for n in range(LOOKUPS_AT_ONCE)))
    with EgressProxy(tmp_path / "proxy.sock", [("api.hung.test", 443)]) as proxy:
        answer = ask(proxy.path, b"CONNECT api.hung.test:443 HTTP/1.1\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 502")
    [refusal], _ = proxy.refusals()
    assert refusal["reason"] == (
        f"could not connect: not looking up api.hung.test: {LOOKUPS_AT_ONCE} name lookups"
        " already wait on the resolver, the most allowed at once"
    )


def test_a_port_that_is_no_number_is_refused_and_recorded(tmp_path, echo_port):
    """The request line reads as Latin-1: the byte 0xb2 is "²", a digit to str.isdigit() and
    no number to int(); the refusal is answered and named like any other."""
    with EgressProxy(tmp_path / "proxy.sock", [("127.0.0.1", echo_port)]) as proxy:
        answer = ask(proxy.path, b"CONNECT 127.0.0.1:\xb2 HTTP/1.1\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 403")
    assert proxy.refusals()[0] == [
        {"target": "127.0.0.1:\u00b2", "reason": "not in OPS_CODING_EGRESS"}
    ]


@pytest.mark.parametrize(
    "address",
    ["100.100.1.1", "64:ff9b::a00:1", "::ffff:100.64.0.1", "240.0.0.1", "224.0.0.1", "ff02::1"],
)
def test_a_listed_name_never_leads_past_the_public_internet(address):
    """A listed name resolving to a tailnet's or a carrier's shared address (100.64.0.0/10),
    to the machine's own network through NAT64, to a reserved or a multicast address was
    tunnelled to: only private, loopback, link-local and unspecified counted as inward."""
    assert inward(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "64:ff9b::5db8:d70e"])
def test_a_public_address_is_outward(address):
    assert not inward(address)


def test_connections_past_the_cap_at_once_are_answered_503_and_counted(tmp_path):
    held = []
    with EgressProxy(tmp_path / "proxy.sock", []) as proxy:
        for _ in range(MAX_OPEN):  # each holds one of the driver's threads, saying nothing
            held.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            held[-1].connect(str(proxy.path))
        past = ask(proxy.path, b"")
        for client in held:
            client.close()

    assert past.startswith(b"HTTP/1.1 503")
    named, _ = proxy.refusals()  # then the held ones, each "not an HTTP request"
    assert named[0] == {"target": "(a connection)", "reason": f"over {MAX_OPEN} at once"}


def test_a_key_the_harness_sends_as_a_target_is_masked_in_the_runs_notes(
    tmp_path, settings, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-seeded-0123456789")
    settings.OPS_CODING_PASS_ENV = ["OPENAI_API_KEY"]
    with EgressProxy(tmp_path / "proxy.sock", []) as proxy:
        ask(proxy.path, b"CONNECT sk-openai-seeded-0123456789.example.com:443 HTTP/1.1\r\n\r\n")

    assert refusal_notes(proxy) == [
        "egress refused: [redacted].example.com:443 (not in OPS_CODING_EGRESS)"
    ]


HARNESS = textwrap.dedent(
    """
    import os, socket
    from urllib.parse import urlsplit
    proxy = urlsplit(os.environ["HTTPS_PROXY"])
    def through_proxy(target, then=b""):
        with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as s:
            s.sendall(f"CONNECT {target} HTTP/1.1\\r\\n\\r\\n".encode())
            answer = s.recv(1024)
            if then and answer.startswith(b"HTTP/1.1 200"):
                s.sendall(then)
                answer += s.recv(1024)
            status, body = answer.split(b"\\r\\n")[0], answer.split(b"\\r\\n\\r\\n")[-1]
            return status.decode() + "|" + body.decode()
    def direct(host, port):
        try:
            socket.create_connection((host, port), timeout=5).close()
            return "connected"
        except OSError as error:
            return f"refused: {error.__class__.__name__}"
    print("PROXY", os.environ["HTTPS_PROXY"])
    print("ALLOWED", through_proxy("127.0.0.1:%(port)d", b"from the box\\n").strip())
    print("OTHER", through_proxy("example.com:443"))
    print("DIRECT", direct("127.0.0.1", %(port)d))
    """
)


@box_needed
def test_a_boxed_harness_reaches_only_the_listed_host_through_the_proxy(tmp_path, echo_port):
    tree = tmp_path / "run" / "tree"
    tree.mkdir(parents=True)
    argv = [sys.executable, "-c", HARNESS % {"port": echo_port}]

    done = run_boxed(argv, str(tree), Limits(seconds=60), egress=[("127.0.0.1", echo_port)])

    lines = dict(line.split(" ", 1) for line in done.output.splitlines() if " " in line)
    assert done.exit_status == 0, done.output
    assert lines["PROXY"] == "http://127.0.0.1:3128"
    assert lines["ALLOWED"] == "HTTP/1.1 200 Connection Established|echo: from the box"
    assert lines["OTHER"].startswith("HTTP/1.1 403")
    assert lines["DIRECT"].startswith("refused")  # the host's loopback is not the box's
    assert "egress refused: example.com:443 (not in OPS_CODING_EGRESS)" in done.notes


FLOOD = textwrap.dedent(
    """
    import os, socket
    from urllib.parse import urlsplit
    proxy = urlsplit(os.environ["HTTPS_PROXY"])
    for n in range(300):
        with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as s:
            s.sendall(f"CONNECT host-{n}.example.com:443 HTTP/1.1\\r\\n\\r\\n".encode())
            s.recv(1024)
    """
)


@box_needed
def test_a_flood_of_refused_requests_is_named_up_to_a_cap_and_counted_past_it(tmp_path, echo_port):
    tree = tmp_path / "run" / "tree"
    tree.mkdir(parents=True)
    argv = [sys.executable, "-c", FLOOD]

    done = run_boxed(argv, str(tree), Limits(seconds=60), egress=[("127.0.0.1", echo_port)])

    assert done.exit_status == 0, done.output
    assert len(done.notes) == 21
    assert done.notes[0] == "egress refused: host-0.example.com:443 (not in OPS_CODING_EGRESS)"
    assert done.notes[-1] == "egress refused 280 more times (only the first 20 are named)"


@box_needed
def test_without_egress_the_box_has_no_network_at_all(tmp_path, echo_port):
    tree = tmp_path / "run" / "tree"
    tree.mkdir(parents=True)
    probe = f"import socket; socket.create_connection(('127.0.0.1', {echo_port}), timeout=5)"

    done = run_boxed([sys.executable, "-c", probe], str(tree), Limits(seconds=60))

    assert done.exit_status != 0
    assert "Error" in done.output
    assert not done.notes  # nothing asked a proxy: there is none


@box_needed
@pytest.mark.django_db(transaction=True)
def test_the_claude_runner_reaches_its_listed_api_and_nothing_else(
    coding_repo, settings, echo_port
):
    settings.OPS_CODING_RUNNERS = {"claude-code": FAKE_HARNESS}
    settings.OPS_CODING_EGRESS = [("127.0.0.1", echo_port)]
    coding_repo.runners = ["claude-code"]
    coding_repo.save()
    run = new_run(coding_repo, f"@greet @egress=127.0.0.1:{echo_port}")
    CodingRun.objects.filter(pk=run.pk).update(runner="claude-code")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    said = json.loads((Path(run.worktree_path).parent / "home" / "egress.json").read_text())
    assert said[f"127.0.0.1:{echo_port}"].endswith("echo: model call\n")
    assert said["example.com:443"].startswith("HTTP/1.1 403")
    refusal = Event.objects.get(kind="coding.run.sandbox", payload__run_id=run.id)
    assert refusal.summary == "egress refused: example.com:443 (not in OPS_CODING_EGRESS)"


@box_needed
@pytest.mark.django_db(transaction=True)
def test_the_command_runner_gets_no_egress_even_when_hosts_are_listed(
    coding_repo, settings, echo_port
):
    settings.OPS_CODING_EGRESS = [("127.0.0.1", echo_port)]
    run = new_run(coding_repo, f"@greet @egress=127.0.0.1:{echo_port}")

    assert handle_one_run()

    run.refresh_from_db()
    said = json.loads((Path(run.worktree_path).parent / "home" / "egress.json").read_text())
    assert all(answer.startswith("error:") for answer in said.values())
