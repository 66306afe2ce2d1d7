"""A list's address may filter by any lookup on the model's own fields, as Django allows. The
ones the database refuses were a 500 on every list: an invalid regex (`title__regex=(`), a
malformed array (`tags__contains={`), a lookup of an extension not installed
(`title__unaccent=`, `__trigram_similar=`), an address that is no IP. Now the list is shown
without its filters, saying what was refused, and the connection stays usable."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from missions.models import Mission
from tests.factories import make_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(admin_user):
    client = Client(raise_request_exception=False)  # a 500 as a browser would get it
    client.force_login(admin_user)
    return client


REFUSED = [
    ("/admin/missions/mission/", "title__regex=(", "invalid regular expression"),
    ("/admin/missions/step/", "kind__iregex=%5B", "invalid regular expression"),
    ("/admin/opscore/event/", "tags__contains=%7B", "malformed array literal"),
    ("/admin/opscore/event/", "tags__overlap=a,b", "malformed array literal"),
    ("/admin/missions/mission/", "title__unaccent=x", "does not exist"),
    ("/admin/opscore/agent/", "slug__trigram_similar=x", "does not exist"),
    ("/admin/axes/accessattempt/", "ip_address=nowhere", "does not appear to be an IPv4"),
]


@pytest.mark.parametrize("url,query,said", REFUSED)
def test_a_filter_the_database_refuses_is_dropped_saying_why(
    operator_client, agent, url, query, said
):
    make_step("noop", agent=agent)

    answer = operator_client.get(url, QUERY_STRING=query)

    assert answer.status_code == 302 and answer["Location"] == url
    shown = [str(m) for m in get_messages(answer.wsgi_request)]
    assert len(shown) == 1 and said in shown[0] and shown[0].endswith("; dropped.")
    assert operator_client.get(url).status_code == 200
    assert Mission.objects.count() == 1  # the connection still answers


def test_a_filter_that_holds_still_filters(operator_client, agent):
    make_step("noop", agent=agent)

    answer = operator_client.get("/admin/missions/step/", QUERY_STRING="kind__regex=^no")

    assert answer.status_code == 200 and "1 step" in answer.content.decode()
