"""A database outage answers as what it is: 503 with Retry-After, in the caller's language.

Postgres is the truth, so without it nothing can be answered; the API says so in JSON, the Stage
shows "database unavailable" (its htmx panels swap that message in and retry), the admin gets
the same page. (Sessions and auth are lazy: their queries run inside the view, so they count.)
"""

import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Database unavailable'
    '</title></head><body><main><h1>Database unavailable</h1><p class="bad panel-error">'
    "The database is not answering ({reason}); this page will work again when it does. "
    "Try again in a few seconds.</p></main></body></html>"
)


class DatabaseOutage:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, error):
        if not isinstance(error, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable for %s: %s", request.path, error)
        for connection in connections.all():
            connection.close_if_unusable_or_obsolete()
        return unavailable(request, type(error).__name__)


def unavailable(request, reason: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        # the shape of every refusal under /api/ (console.api.error), and when to come back
        body = {"ok": False, "error": "database unavailable", "errors": {}}
        body["retry_after"] = RETRY_AFTER_SECONDS
        response = JsonResponse(body, status=503)
    else:
        response = HttpResponse(PAGE.format(reason=escape(reason)), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
