"""A NUL character in an address, a query or a form field is refused at the door: 400 with the
field named (JSON under /api/), before any view runs.

PostgreSQL cannot store or even compare text holding a NUL, and a form's value reaches it by
many roads the JSON boundary (opscore.inputs) never sees: an admin object id
(`/admin/opscore/agent/abc%00/change/`), the digest an approval card sends back (kept on the
refusal's event), a query parameter (`/api/ops/chat?actor=%00`). Each one was a 500 with a
traceback in the log; here they are one rule.
"""

from django.http import HttpResponseBadRequest, JsonResponse

from console.api_errors import API_PREFIX

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_field(request) -> str | None:
    """The first place a NUL is: "path", a query or form field's name, else None."""
    if "\x00" in request.path:
        return "path"
    fields = [request.GET]
    # The API reads its bodies as JSON (opscore.inputs checks them); parsing one here as a
    # multipart form would consume it before the view could.
    if request.content_type in FORMS and not request.path.startswith(API_PREFIX):
        fields.append(request.POST)
    for query in fields:
        for name, values in query.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return name.replace("\x00", "\\u0000")
    return None


class RefuseNul:
    """Middleware: what a form or an address carries obeys the rule JSON bodies already do."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field = nul_field(request)
        if field is None:
            return self.get_response(request)
        message = "contains a NUL character (\\u0000)"
        if request.path.startswith(API_PREFIX):  # both APIs' error shape (console.api_errors)
            body = {"ok": False, "error": f"{field}: {message}", "errors": {field: [message]}}
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(f"{field} {message}.", content_type="text/plain")
