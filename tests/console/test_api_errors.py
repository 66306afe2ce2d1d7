"""Every refusal under /api/ answers JSON a client can read, never HTML or an empty body."""

import json

import pytest

from tests.console.test_agent_api import outside, secret  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def refusal(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["ok"] is False and body["error"]
    return body


def test_a_get_on_an_agent_verb_is_a_json_405_naming_the_method(client):
    response = client.get("/api/agent/heartbeat")
    assert response.status_code == 405
    assert "POST" in refusal(response)["error"]
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    "path",
    [
        "/api/ops/events",
        "/api/ops/status",
        "/api/ops/proposals/1",
        "/api/ops/goals/1",
        "/api/agent/tools",
        "/healthz",
    ],
)
def test_another_method_on_a_read_endpoint_is_a_405_naming_get_not_a_csrf_403(path):
    from django.test import Client

    browser_like = Client(enforce_csrf_checks=True)  # as a real client meets the middleware
    response = browser_like.delete(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/ops/no-such-thing")
    assert response.status_code == 404
    assert refusal(response)["error"] == "no such endpoint"


def test_a_body_over_the_upload_limit_without_a_length_is_a_json_400(client, secret, settings):  # noqa: F811
    """A chunked body carries no Content-Length, so only reading it finds it too large."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post(
        "/api/agent/heartbeat",
        data="{" + " " * 1000 + "}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 400
    assert refusal(response)["error"] == "body too large"


def test_pages_outside_the_api_keep_their_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_host_outside_allowed_hosts_is_named_not_blamed_on_the_body(client):
    """`curl -H 'Host: ops.example.com' …/api/ops/status` (a proxy passing its own host) was a
    400 saying "the body could not be read (too large or malformed)" for a GET with no body."""
    response = client.get("/api/ops/status", headers={"Host": "ops.example.com"})

    assert response.status_code == 400
    assert "ALLOWED_HOSTS" in refusal(response)["error"]
    assert "body" not in refusal(response)["error"]


def test_the_operator_apis_own_refusals_have_the_shape_of_every_other(client, settings):
    """They said {"error"} (and "errors" only when there were some), where the agent API and
    Django's rewritten refusals say {"ok": false, "error", "errors"}."""
    settings.OPS_API_TOKEN = token = "an-operator-token-that-is-long-enough-01"
    auth = {"Authorization": f"Bearer {token}"}

    missing = client.get("/api/ops/proposals/999999", headers=auth)
    invalid = client.post(
        "/api/ops/proposals", {"title": 1}, content_type="application/json", headers=auth
    )

    assert missing.status_code == 404 and refusal(missing)["errors"] == {}
    assert invalid.status_code == 400 and refusal(invalid)["errors"]


@pytest.mark.parametrize(
    "path",
    ["/api/ops/chat", "/api/ops/goals", "/api/ops/overrides", "/api/ops/threads/mission/1"],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_a_read_and_write_endpoint_answers_another_method_405_naming_get_and_post(path, method):
    """They answered 405 with no Allow header, so a client (or `curl -X PUT`) had no way to
    learn which methods the endpoint takes but reading the prose of the error."""
    from django.test import Client

    response = Client(enforce_csrf_checks=True).generic(method, path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "path", ["/api/ops/status", "/api/ops/goals", "/api/ops/goals/999999", "/api/ops/overrides"]
)
def test_a_head_on_a_read_is_answered_as_its_get_without_the_body(client, path, settings):
    settings.STAGE_PUBLIC = True

    head = client.head(path)

    assert head.status_code == client.get(path).status_code
    assert head.content == b""
