"""DEBUG=True's error page (Django's technical 500, shown to whoever made the request that
failed, the Stage's visitors included) keeps the installation's secrets out: Django hides a
setting by its name alone (KEY, TOKEN, PASS...), so EMAIL_URL's SMTP password, the chat
webhook's URL and a frame's local variables holding them were shown as they are."""

import sys

from django.test import RequestFactory
from django.views.debug import technical_500_response

# Joined here: the page shows the source around each frame, this module's lines included.
PASSWORD = "smtp-pass-" + "0123456789"
WEBHOOK = "https://hooks.example.com/services/T000/B000/" + "XXXX" + "secret" + "XXXX"


def send_the_notice(url: str):
    raise ConnectionError("the webhook did not answer")


def test_the_debug_error_page_shows_no_secret(settings):
    settings.DEBUG = True
    settings.EMAIL_URL = f"smtp://ops:{PASSWORD}@mail.example.com:587"
    settings.EMAIL_HOST_PASSWORD, settings.OPS_WEBHOOK_URL = PASSWORD, WEBHOOK
    request = RequestFactory().get("/stage/")
    try:
        send_the_notice(settings.OPS_WEBHOOK_URL)
    except ConnectionError:
        page = technical_500_response(request, *sys.exc_info())

    shown = page.content.decode()
    assert "the webhook did not answer" in shown
    assert PASSWORD not in shown and WEBHOOK.rpartition("/")[2] not in shown
