"""Every answer under /api/ is JSON, errors included. Django's own refusals (405 from a
method decorator, 404 for an unknown path, 400 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE
sent chunked) come back as HTML or an empty body; a client parsing JSON then fails on the
refusal instead of reading it. This rewrites those into the API's error shape."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

API_PREFIX = "/api/"
REASONS = {
    400: "bad request: the body could not be read (too large or malformed)",
    403: "forbidden",
    404: "no such endpoint",
    405: "method not allowed",
    413: "body too large",
}


def is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def json_refusal(response) -> JsonResponse:
    status = response.status_code
    message = REASONS.get(status, response.reason_phrase.lower())
    if status == 405 and response.has_header("Allow"):
        message = f"{message}; use {response['Allow']}"
    answer = JsonResponse({"ok": False, "error": message, "errors": {}}, status=status)
    for header in ("Allow", "Retry-After"):
        if response.has_header(header):
            answer[header] = response[header]
    return answer


class JsonErrorsForApi:
    """Middleware: a non-JSON error answer under /api/ becomes a JSON one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if is_json(response) or response.streaming:
            return response
        return json_refusal(response)


def get_only(view):
    """A read endpoint: another method is answered 405 with `Allow: GET`, not 403 — the CSRF
    check runs before the method check, and on a view that only reads it guards nothing."""
    return csrf_exempt(require_GET(view))
