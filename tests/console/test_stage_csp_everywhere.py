"""The Stage's Content-Security-Policy goes with the Stage's pages wherever they are served,
not only under /stage and /admin/: the page that says an address answers nothing is drawn for
any address a link can name, and prints that address back."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("address", ["/no-such-page", "/metrics/x", "/api"])
def test_the_not_here_page_for_any_address_runs_under_the_stages_policy(client, address):
    """A link to /<anything> drew the Stage's own 'Not here' page, with the address printed in
    it and the Stage's scripts loaded, and no policy at all: one escaping slip there would run
    as whoever followed the link. It now carries the same policy as every Stage page."""
    page = client.get(f"{address}%3Cscript%3E")

    assert page.status_code == 404
    assert "There is no page" in page.content.decode()
    policy = page.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_what_is_not_a_page_carries_no_page_policy_it_does_not_need(client):
    """JSON and the metrics' text are no documents a browser runs: left as they were."""
    assert "Content-Security-Policy" not in client.get("/healthz").headers
