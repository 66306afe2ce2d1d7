"""A listing read under /api/ops/ refuses a query parameter it does not take, naming it: a
filter it ignored (`?kind=step.failed` on the events) answered every row as if filtered, and
the caller acted on the wrong ones."""

import pytest

pytestmark = pytest.mark.django_db
TOKEN = "query-names-token-0123456789-0123456789"


@pytest.mark.parametrize(
    ("path", "taken"),
    [
        ("/api/ops/events?kind=step.failed", "after, limit"),
        ("/api/ops/events?after=0&page=-1", "after, limit"),
        ("/api/ops/goals?status=active", "none"),
        ("/api/ops/overrides?active=maybe", "none"),
        ("/api/ops/chat?actor=ann&limit=1000000000", "actor"),
    ],
)
def test_it_refuses_a_query_parameter_it_does_not_take(client, settings, path, taken):
    settings.OPS_API_TOKEN = TOKEN

    response = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid query"
    unknown = path.split("?")[1].split("&")[-1].split("=")[0]
    assert body["errors"] == {unknown: [f"unknown parameter; this endpoint takes {taken}"]}


def test_the_parameters_it_takes_still_read(client, settings):
    settings.OPS_API_TOKEN = TOKEN
    auth = {"Authorization": f"Bearer {TOKEN}"}

    assert client.get("/api/ops/events?after=0&limit=5", headers=auth).status_code == 200
    assert client.get("/api/ops/chat?actor=ann", headers=auth).status_code == 200
    assert client.get("/api/ops/goals", headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("path", "name"),
    [("/api/ops/events?after=900&after=0", "after"), ("/api/ops/chat?actor=ann&actor=bo", "actor")],
)
def test_a_parameter_given_twice_is_refused_not_read_as_its_last(client, settings, path, name):
    """`?after=900&after=0` answered from 0 (Django reads the last): what a proxy or a log
    checked (the first) was not what was served. A JSON key given twice is refused already."""
    settings.OPS_API_TOKEN = TOKEN

    response = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 400
    assert response.json()["errors"] == {name: ["given 2 times: which is meant?"]}
