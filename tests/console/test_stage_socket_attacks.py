"""What a hostile client can do to the Stage's socket: send frames up it, ask for the feed from
far in the past or from a cursor the feed never reached, and reconnect — each answered with a
close code the page acts on, the server unharmed, and a reconnecting page caught up exactly."""

import pytest

from opscore.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("query", ["agent=nobody", "kind=test.rare"])
def test_a_filtered_feeds_socket_starts_at_the_newest_event(client, query):
    """The page's socket started at the newest *matching* event: a filter matching nothing
    gave `?after=0`, and the server read the company's whole history for one page."""
    rare = Event.objects.create(kind="test.rare", title="long ago").id
    newest = [Event.objects.create(kind="test", title=f"since {n}").id for n in range(3)][-1]

    page = client.get(f"/stage/?{query}").content.decode()

    assert f'data-last-id="{newest}"' in page and f'data-last-id="{rare}"' not in page
