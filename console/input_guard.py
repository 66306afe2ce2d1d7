"""A NUL character in an address, a query or a form field is refused at the door: 400 with the
field named (JSON under /api/), before any view runs; so is a query or form whose bytes are not
UTF-8.

PostgreSQL cannot store or even compare text holding a NUL, and a form's value reaches it by
many roads the JSON boundary (opscore.inputs) never sees: an admin object id
(`/admin/opscore/agent/abc%00/change/`), the digest an approval card sends back (kept on the
refusal's event), a query parameter (`/api/ops/chat?actor=%00`). Each one was a 500 with a
traceback in the log; here they are one rule.

Django reads a form's or a query's bytes leniently: what is not UTF-8 (a lone surrogate's
`%ED%A0%80`, Latin-1 sent raw) becomes U+FFFD, so a task titled "���" was accepted. A JSON body
that is not UTF-8 is refused, not repaired (opscore.inputs); a form or a query is too.
"""

from urllib.parse import unquote_to_bytes

from django.http import HttpResponseBadRequest, JsonResponse

from console.api_errors import API_PREFIX

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL = "contains a NUL character (\\u0000)"
NOT_UTF8 = "not valid UTF-8"


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


def not_utf8_field(request) -> str | None:
    """The first query or url-encoded form field whose bytes are not UTF-8, else None."""
    encoded = [request.META.get("QUERY_STRING", "")]
    form = request.content_type == FORMS[0] and not request.path.startswith(API_PREFIX)
    if form:
        try:
            encoded.append(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            return "body"
    for text in encoded:
        for pair in filter(None, text.split("&")):
            name, _, value = (
                unquote_to_bytes(part.replace("+", " ")) for part in pair.partition("=")
            )
            try:
                name.decode("utf-8")
            except UnicodeDecodeError:
                return "a field's name"
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return name.decode("utf-8").replace("\x00", "\\u0000")
    return None


class RefuseNul:
    """Middleware: what a form or an address carries obeys the rules JSON bodies already do."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field, message = not_utf8_field(request), NOT_UTF8
        if field is None:
            field, message = nul_field(request), NUL
        if field is None:
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):  # both APIs' error shape (console.api_errors)
            body = {"ok": False, "error": f"{field}: {message}", "errors": {field: [message]}}
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(f"{field} {message}.", content_type="text/plain")
