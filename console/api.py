"""The HTTP API under /api/ops/. Thin views: authenticate, validate, call an action, answer JSON."""

import hashlib
import hmac
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import ProgrammingError, transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from console.api_errors import get_only
from console.metrics import metrics_registry
from console.probes import unapplied_migrations
from console.status import system_status
from missions.actions import submit_proposal
from missions.metrics import record_metric
from missions.models import ProposalSource
from missions.schemas import ProposalInvalid
from missions.text import strip_invisible
from opscore.checks import MIN_SECRET_LENGTH
from opscore.heartbeat import run_heartbeat
from opscore.idempotency import HEADER, Answer, KeyRefused, answer_once
from opscore.inputs import EXPECTED, InputRefused, is_kind, parse_json, whole_number
from opscore.models import Event, within_actor_length
from opscore.text import ReasonRefused, checked_reason

MAX_EVENTS_PAGE = 500


def error(status: int, message: str, errors: dict | None = None) -> JsonResponse:
    """Every refusal under /api/ has one shape, `{"ok": false, "error", "errors"}`: the agent
    API's, and the one Django's own refusals are rewritten into (console.api_errors); the
    operator API's own said `{"error"}`, with `errors` only when there were some."""
    return JsonResponse({"ok": False, "error": message, "errors": errors or {}}, status=status)


# A read's methods: HEAD is a GET without its body (console.api_errors.get_only).
READS = ("GET", "HEAD")


def not_allowed(message: str) -> JsonResponse:
    """The 405 of an endpoint that reads on GET and writes on POST, with the `Allow` header a
    405 must carry: without it a client learnt the methods only from the prose."""
    response = error(405, message)
    response["Allow"] = "GET, HEAD, POST"
    return response


def bearer_matches(request, secret: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not secret or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), secret.encode())


def token_refusal(request, secret: str, name: str) -> JsonResponse | None:
    """None when the request carries the right bearer token, else the response to send."""
    if not secret:
        return error(503, f"{name} is not configured on the server; this endpoint is disabled")
    if len(secret) < MIN_SECRET_LENGTH:
        return error(
            503,
            f"{name} is shorter than {MIN_SECRET_LENGTH} characters, too easy to guess; "
            "this endpoint is disabled until it is longer",
        )
    if not bearer_matches(request, secret):
        return error(401, "missing or invalid bearer token")
    return None


def read_only_refusal(request) -> JsonResponse | None:
    """Reads are public while the Stage is; otherwise they need the API token too."""
    if settings.STAGE_PUBLIC:
        return None
    return token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")


def metrics_refusal(request) -> JsonResponse | None:
    """With OPS_METRICS_TOKEN set, a scraper needs it (or the API token) even on a public Stage;
    it opens /metrics only, so a Prometheus config never holds a token that can write. The API
    token opens it only when it opens the API: one too short to (token_refusal) is guessable."""
    if not settings.OPS_METRICS_TOKEN:
        return read_only_refusal(request)
    if token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN") is None:
        return None
    return token_refusal(request, settings.OPS_METRICS_TOKEN, "OPS_METRICS_TOKEN")


def api_actor(name: str | None) -> str:
    """Who the API caller says they are, as events and pages name them: `api:<name>`, one line
    without the characters that hide or reorder text (a name is shown to other operators and
    written into the ledger), `api:operator` when none is given. A name too long for the
    ledger is kept as an operator's is (its start and a digest): the chat finds a caller's
    messages by it, and cutting it made two long names one caller."""
    name = " ".join(strip_invisible(name).split()) if isinstance(name, str) else ""
    return within_actor_length(f"api:{name or 'operator'}")


def actor_errors(data: dict) -> dict:
    """`{"actor": ["expected a string"]}` for a body whose `actor` is not one: a number, a list
    or null written as `api:operator` put the row under another name than the caller gave."""
    if "actor" in data and not isinstance(data["actor"], str):
        return {"actor": ["expected a string"]}
    return {}


def parse_json_body(request) -> tuple[dict | None, JsonResponse | None]:
    limit = settings.OPS_MAX_INPUT_BYTES
    declared = whole_number(request.headers.get("Content-Length") or "0")
    if declared is None or declared < 0:  # a WSGI server may pass on what the client sent
        return None, error(400, "invalid Content-Length", {"Content-Length": ["not a number"]})
    if declared > limit:
        return None, error(400, "body too large", {"body": [f"at most {limit} bytes"]})
    try:
        data = parse_json(request.body)
    except RequestDataTooBig:
        return None, error(400, "body too large", {"body": [f"at most {limit} bytes"]})
    except InputRefused as refused:
        return None, error(400, "invalid body", refused.errors)
    if not isinstance(data, dict):
        return None, error(400, "expected a JSON object", {"body": ["expected a JSON object"]})
    return data, None


def unknown_field_errors(data: dict, fields: set[str]) -> dict:
    """`{"body": ["unknown fields [...]"]}` for a field the endpoint does not take: a misspelt
    `actr` silently dropped would write the row under another name than the caller meant."""
    unknown = sorted(set(data) - fields)
    return {"body": [f"unknown fields {unknown}"]} if unknown else {}


def unknown_query_refusal(request, taken: tuple[str, ...] = ()) -> JsonResponse | None:
    """A 400 naming each query parameter a read does not take: a filter it ignored
    (`?kind=step.failed`) answered every row as if filtered, and the caller acted on them. One
    it takes given twice is refused as a JSON key given twice is (opscore.inputs): Django reads
    the last, so what a proxy or a log checked (the first) was not what was served."""
    said = ", ".join(taken) or "none"
    unknown = sorted(set(request.GET) - set(taken))
    problems = {name: [f"unknown parameter; this endpoint takes {said}"] for name in unknown}
    for name, values in request.GET.lists():
        if name in taken and len(values) > 1:
            problems[name] = [f"given {len(values)} times: which is meant?"]
    return error(400, "invalid query", problems) if problems else None


def kind_errors(data: dict, kinds: dict[str, type]) -> dict:
    """`{field: ["expected a string"]}` for each field of `kinds` the body gives as another JSON
    kind. Taken as it came, a number where text is wanted was written as its digits (an
    override's reason `7`), and text where a number is wanted was read as one ("1e3" a goal's
    target of 1000): the caller's mistake became a row nobody asked for."""
    return {
        k: [EXPECTED[kind]] for k, kind in kinds.items() if k in data and not is_kind(data[k], kind)
    }


def reason_errors(data: dict, *, needed_by: str = "") -> dict:
    """`{"reason": ["required"]}` or `{"reason": ["at most 500 characters"]}` when the action
    would refuse the body's reason (opscore.text.checked_reason: measured and required as it
    will be kept, hidden characters gone), so it is answered with the other field errors,
    before anything is looked up or decided. A reason of another kind is kind_errors' to say."""
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        return {}
    try:
        checked_reason(reason, needed_by=needed_by)
    except ReasonRefused as refused:
        return refused.errors
    return {}


def string_field_errors(data: dict, fields: set[str]) -> dict:
    """The field errors of a body whose fields are all optional strings from `fields`."""
    return kind_errors(data, dict.fromkeys(fields, str)) | unknown_field_errors(data, fields)


def json_post(view):
    """A token-protected POST endpoint taking a JSON object: the view gets the parsed body."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def guarded(request):
        refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
        if refusal:
            return refusal
        data, problem = parse_json_body(request)
        return problem or view(request, data)

    return guarded


def token_name() -> str:
    """The API token as rows name it: `token:` and a digest (never the secret). Today every
    caller holds the one OPS_API_TOKEN, so a new token is a new name."""
    return "token:" + hashlib.sha256(settings.OPS_API_TOKEN.encode()).hexdigest()[:16]


def caller_scope(endpoint: str) -> str:
    """Whose idempotency keys: the token's, so a new token starts a fresh key space."""
    return f"{endpoint}:{token_name()}"


def authenticated_as(request) -> dict:
    """Who sent a proposal, as the request authenticated, never as its body says: the
    operator signed in, who may then not approve it (four eyes), else the API token."""
    if request.user.is_authenticated:
        return {"operator": request.user}
    return {"proposed_by": f"api:{token_name()}"}


def _intake(data, who: dict) -> Answer:
    result = submit_proposal(data, source=ProposalSource.API, **who)
    return Answer(201 if result.created else 200, result.as_json())


@json_post
def create_proposal(request, data):
    key, who = request.headers.get(HEADER), authenticated_as(request)
    try:
        answer = answer_once(caller_scope("proposals"), key, data, lambda: _intake(data, who))
    except ProposalInvalid as invalid:
        return error(400, "invalid proposal", invalid.errors)
    except KeyRefused as refused:
        return error(refused.status, str(refused), {HEADER: [str(refused)]})
    response = JsonResponse(answer.body, status=answer.status)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class QueryError(ValueError):
    def __init__(self, name: str, message: str):
        self.errors = {name: [message]}
        super().__init__(message)


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None:
        raise QueryError(name, "must be an integer")
    if not low <= value <= high:
        raise QueryError(name, f"must be between {low} and {high}")
    return value


@get_only
def list_events(request):
    refusal = read_only_refusal(request) or unknown_query_refusal(request, ("after", "limit"))
    if refusal:
        return refusal
    try:
        after = _int_param(request, "after", 0, 0, 2**63 - 1)
        limit = _int_param(request, "limit", 100, 1, MAX_EVENTS_PAGE)
    except QueryError as invalid:
        return error(400, "invalid query", invalid.errors)
    events = list(Event.objects.after(after)[:limit])
    next_after = events[-1].id if events else after
    return JsonResponse({"events": [e.as_json() for e in events], "next_after": next_after})


@json_post
def create_metric(request, data):
    try:
        metric = record_metric(data)
    except ProposalInvalid as invalid:
        return error(400, "invalid metric", invalid.errors)
    return JsonResponse({"id": metric.id, "engagement_rate": metric.engagement_rate}, status=201)


@json_post
def request_conversation(request, data):
    from roundtable.lifecycle import ConversationInvalid
    from roundtable.lifecycle import request_conversation as enqueue

    fields = {"format", "topic", "participants", "actor"}
    if wrong := unknown_field_errors(data, fields) | actor_errors(data):
        return error(400, "invalid conversation", wrong)
    fmt, topic, people = data.get("format"), data.get("topic"), data.get("participants")
    if not (
        isinstance(fmt, str)
        and isinstance(topic, str)
        and isinstance(people, list)
        and all(isinstance(p, str) for p in people)
    ):
        return error(
            400,
            "invalid conversation",
            {"body": ["expected format (string), topic (string) and participants (list of slugs)"]},
        )
    try:
        asked_by = api_actor(data.get("actor"))
        conversation = enqueue(fmt, people, topic, source="api", requested_by=asked_by)
    except ConversationInvalid as invalid:
        return error(400, "invalid conversation", {"body": [str(invalid)]})
    said = {"error": conversation.error} if conversation.error else {}
    return JsonResponse({"id": conversation.id, "status": conversation.status} | said, status=201)


@csrf_exempt
@require_POST
def heartbeat(request):
    refusal = token_refusal(request, settings.CRON_SECRET, "CRON_SECRET")
    if refusal:
        return refusal
    return JsonResponse(run_heartbeat("api").as_json())


@get_only
def status(request):
    refusal = read_only_refusal(request)
    if refusal:
        return refusal
    return JsonResponse(system_status())


@get_only
def metrics(request):
    """The health figures in Prometheus text format, for a scraper (see console/metrics.py)."""
    refusal = metrics_refusal(request)
    if refusal:
        return refusal
    try:
        with transaction.atomic():  # a savepoint, so the migrations can still be read
            scraped = generate_latest(metrics_registry())
    except ProgrammingError:  # the health views are not installed until `migrate` runs
        if not unapplied_migrations():
            raise
        return error(503, "database not migrated: run migrate (GET /readyz names what is missing)")
    return HttpResponse(scraped, content_type=CONTENT_TYPE_LATEST)
