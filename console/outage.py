"""A database outage answers as what it is: 503 with Retry-After, in the caller's language.

Postgres is the truth, so without it nothing can be answered; the API says so in JSON, the Stage
shows "database unavailable" (its htmx panels swap that message in and retry), the admin gets
the same page. (Sessions and auth are lazy: their queries run inside the view, so they count.)
A statement past its deadline (opscore.db_deadline) answers the same way, "database busy", why.
"""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, ProgrammingError, connections
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

from opscore.db_deadline import busy_reason

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Database unavailable'
    '</title></head><body><main><h1>Database unavailable</h1><p class="bad panel-error">'
    "The database is not answering ({reason}); this page will work again when it does. "
    "Try again in a few seconds.</p></main></body></html>"
)
BUSY_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Database busy</title>'
    '</head><body><main><h1>Database busy</h1><p class="bad panel-error">{reason}. '
    "Try again in a few seconds.</p></main></body></html>"
)


class DatabaseOutage:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, error):
        if isinstance(error, ProgrammingError) and not_migrated():
            return refusal(request, NOT_MIGRATED, NOT_MIGRATED_PAGE)
        if not isinstance(error, OperationalError | InterfaceError):
            return None
        said = database_fault(error, request.path)
        if said != UNAVAILABLE:
            return refusal(request, said, BUSY_PAGE.format(reason=escape(said)))
        return unavailable(request, type(error).__name__)


UNAVAILABLE = "database unavailable"
NOT_MIGRATED = "database not migrated: run migrate (GET /readyz names what is missing)"
NOT_MIGRATED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Database not migrated'
    '</title></head><body><main><h1>Database not migrated</h1><p class="bad panel-error">'
    f"{NOT_MIGRATED}: `make run` does it.</p></main></body></html>"
)


def not_migrated() -> bool:
    """Whether a missing table or view is a `migrate` not yet run (a request served between a
    deploy and its migrations), not a defect: then the caller is told so, not given a 500."""
    from console.probes import unapplied_migrations

    try:
        return bool(unapplied_migrations())
    except DatabaseError:  # an aborted transaction, the database gone since: not knowable
        return False


def database_fault(error: OperationalError | InterfaceError, where: str) -> str:
    """What a caller is told of a database error (logged with the driver's own words, which
    name tables, rows and hosts and are the operator's): "database busy: …" for a deadline,
    else UNAVAILABLE, with the connections it left unusable closed for the next call."""
    if busy := busy_reason(error):  # a deadline: the connection still answers
        log.warning("%s for %s: %s", busy, where, error)
        return busy
    log.warning("database unavailable for %s: %s", where, error)
    for connection in connections.all():
        connection.close_if_unusable_or_obsolete()
    return UNAVAILABLE


def unavailable(request, reason: str) -> HttpResponse:
    return refusal(request, UNAVAILABLE, PAGE.format(reason=escape(reason)))


def refusal(request, error: str, page: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        # the shape of every refusal under /api/ (console.api.error), and when to come back
        body = {"ok": False, "error": error, "errors": {}}
        body["retry_after"] = RETRY_AFTER_SECONDS
        response = JsonResponse(body, status=503)
    else:
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
