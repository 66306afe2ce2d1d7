"""Every answer under /api/ is JSON, errors included. Django's own refusals (405 from a
method decorator, 404 for an unknown path, 400 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE
sent chunked) come back as HTML or an empty body; a client parsing JSON then fails on the
refusal instead of reading it. This rewrites those into the API's error shape."""

from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

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


NOT_OUR_HOST = "the Host header names no host this server answers for (ALLOWED_HOSTS)"


def reason_for(request, status: int, fallback: str) -> str:
    """Django answers a Host outside ALLOWED_HOSTS with the same bare 400 as an unreadable body;
    told apart here, so a client behind a proxy is not sent looking at its body."""
    if status == 400:
        try:
            request.get_host()
        except DisallowedHost:
            return NOT_OUR_HOST
    return REASONS.get(status, fallback)


def json_refusal(response, request) -> JsonResponse:
    status = response.status_code
    message = reason_for(request, status, response.reason_phrase.lower())
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
        return json_refusal(response, request)


def get_only(view):
    """A read endpoint: GET, and HEAD as a GET without its body (a load balancer's probe, `curl
    -I`); another method is answered 405 with `Allow: GET, HEAD`, not 403 — the CSRF check runs
    before the method check, and on a view that only reads it guards nothing."""
    return csrf_exempt(require_safe(view))
