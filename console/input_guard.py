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
that is not UTF-8 is refused, not repaired (opscore.inputs); a form or a query is too, whether
url-encoded or multipart (any client may send a form either way).
"""

import base64
import binascii
import contextlib
from urllib.parse import unquote_to_bytes

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.http import parse_header_parameters

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
    """The first query or form field (url-encoded or multipart) whose bytes are not UTF-8."""
    field = not_utf8_pair(request.META.get("QUERY_STRING", ""))
    if field or request.path.startswith(API_PREFIX):
        return field
    if request.content_type == FORMS[0]:
        try:
            return not_utf8_pair(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            return "body"
    if request.content_type == FORMS[1]:
        boundary = request.content_params.get("boundary", "").encode()
        return not_utf8_part(request.body, boundary) if boundary else None
    return None


def not_utf8_pair(encoded: str) -> str | None:
    """The first `name=value` pair of a query or a url-encoded form not UTF-8 once unquoted."""
    for pair in filter(None, encoded.split("&")):
        name, _, value = (unquote_to_bytes(part.replace("+", " ")) for part in pair.partition("="))
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            return "a field's name"
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return name.decode("utf-8").replace("\x00", "\\u0000")
    return None


def not_utf8_part(body: bytes, boundary: bytes) -> str | None:
    """The first part of a multipart form whose name or text is not UTF-8. Django reads them as
    leniently as a url-encoded form's (U+FFFD) and drops a part whose header is not UTF-8. The
    body is read as a url-encoded one is, within DATA_UPLOAD_MAX_MEMORY_SIZE (past it Django
    answers 400): no Opscore form takes a file, and a file's bytes are never read as text."""
    for head, content in multipart_parts(body, boundary):
        try:
            header = head.decode("utf-8")
        except UnicodeDecodeError:
            return "a field's name"
        fields, disposition = part_header(header)
        name = disposition.get("name", "")
        if "\ufffd" in name and "\ufffd" not in header:  # an RFC 2231 name*= not UTF-8
            return "a field's name"
        if "filename" in disposition:
            continue
        if fields.get("content-transfer-encoding", "").strip() == "base64":
            with contextlib.suppress(binascii.Error):  # Django keeps what is not base64 as is
                content = base64.b64decode(content)
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return name.strip().replace("\x00", "\\u0000")
    return None


def part_header(header: str) -> tuple[dict, dict]:
    """A part's header fields by lower-case name, and its Content-Disposition's parameters
    (none when Django could not read them either: it drops that part)."""
    fields = dict(line.partition(":")[::2] for line in header.split("\r\n"))
    fields = {key.strip().lower(): value for key, value in fields.items()}
    try:
        _, disposition = parse_header_parameters(fields.get("content-disposition", ""))
    except ValueError:  # an RFC 2231 parameter naming a charset there is no codec for
        return fields, {}
    return fields, disposition


def multipart_parts(body: bytes, boundary: bytes):
    """(headers, content) of each part, split where Django's parser splits: at `--boundary`,
    the headers ending at the first blank line, up to the closing `--boundary--`."""
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            return
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        yield head, content.removesuffix(b"\r\n")


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
