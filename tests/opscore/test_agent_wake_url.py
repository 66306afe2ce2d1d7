"""An external agent's wake URL is where its wake hook is POSTed: Django's URLField took a port
of 99999 (its pattern reads five digits), which no wake could ever reach, and the deliverer
failed on it at every try. It is checked as the crawl's URLs are (opscore.web_urls.usable), so
the admin, the one surface that sets it, refuses it with its reason."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from opscore.models import Agent, Runtime
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
NO_PORT = "the URL's port is not a number from 1 to 65535"


def changed_wake_url(admin_client, wake_url: str):
    form = {
        "display_name": "OpenClaw",
        "role": "operator",
        "daily_proposal_limit": 20,
        "max_concurrent_steps": 1,
        "runtime": "external",
        "wake_url": wake_url,
    }
    return admin_client.post(reverse("admin:opscore_agent_change", args=["openclaw"]), form)


@pytest.fixture
def openclaw():
    return AgentFactory(slug="openclaw", runtime=Runtime.EXTERNAL)


def test_the_admin_refuses_a_wake_url_whose_port_is_out_of_range(admin_client, openclaw):
    response = changed_wake_url(admin_client, "http://hooks.example:99999/hooks/agent")

    assert response.status_code == 200  # the form again, saying why
    assert escape(NO_PORT) in response.content.decode()
    assert Agent.objects.get(slug="openclaw").wake_url == ""


def test_the_admin_keeps_a_usable_wake_url(admin_client, openclaw):
    response = changed_wake_url(admin_client, "https://hooks.example:8443/hooks/agent")

    assert response.status_code == 302
    assert Agent.objects.get(slug="openclaw").wake_url == "https://hooks.example:8443/hooks/agent"


@pytest.mark.parametrize(
    ("wake_url", "reason"),
    [
        ("http://hooks.example:99999/", NO_PORT),
        ("http://hooks.example:0/", NO_PORT),
        ("http://☃.example/", "the URL's host name is no international domain name"),
    ],
)
def test_a_checked_agent_refuses_a_wake_url_naming_no_usable_address(openclaw, wake_url, reason):
    openclaw.wake_url = wake_url

    with pytest.raises(ValidationError) as refused:
        openclaw.full_clean()

    assert reason in " ".join(refused.value.message_dict["wake_url"])
