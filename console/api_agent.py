"""The agent API: every agent-bus verb over HTTP for an outside runtime, authenticated by its
agent's token (`Authorization: Bearer opsa_…`), rate-limited per token. `POST /api/agent/<verb>`
takes the CLI's options as a JSON object and answers the CLI's JSON; errors carry the same body
with 400 (bad input), 401 (no valid token), 403 (not this agent's to do), 404 (no such row for
this agent), 409 (a refused write: the lease no longer holds) or 429 (over the rate)."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.agentbus_inputs import BadInput, json_key
from console.agentbus_remote import serve
from console.agentbus_verbs import step_json
from console.api import parse_json_body, unknown_query_refusal
from console.api_errors import get_only
from console.models import AgentToken
from missions.models import Step
from missions.step_kinds import runs_inside


def failure(status: int, message: str, errors: dict | None = None) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message, "errors": errors or {}}, status=status)


def admit(request):
    """(agent, None) for an admitted call, else (None, the response to send). No endpoint
    takes a query parameter: an option sent there (`?limit=5`) was dropped without a word."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    admission = AgentToken.objects.admit(secret.strip()) if scheme.lower() == "bearer" else None
    if admission is None:
        return None, failure(401, "missing, unknown or revoked agent token")
    if admission.refused:
        return None, failure(401, admission.refused)
    if not admission.admitted:
        response = failure(429, "rate limit: too many calls with this token; retry later")
        response["Retry-After"] = str(admission.retry_after)
        return None, response
    if refusal := unknown_query_refusal(request):
        return None, refusal
    return admission.agent, None


@csrf_exempt
@require_POST
def agent_verb(request, verb: str):
    agent, refusal = admit(request)
    if refusal:
        return refusal
    data, problem = parse_json_body(request)
    if problem:
        body = json.loads(problem.content)
        return failure(problem.status_code, body["error"], body.get("errors"))
    try:
        return JsonResponse(serve(agent, verb, data))
    except BadInput as bad:
        return JsonResponse(bad.as_json(json_key), status=bad.status)


@get_only
def agent_tools(request):
    """The verbs as MCP tool definitions (name, description, input schema), for a remote MCP
    proxy (examples/agent_mcp_proxy.py) that holds nothing but the token."""
    from console.agent_mcp import remote_tools

    agent, refusal = admit(request)
    if refusal:
        return refusal
    tools = [t.model_dump(by_alias=True, exclude_none=True) for t in remote_tools()]
    return JsonResponse({"ok": True, "agent": agent, "tools": tools})


@get_only
def agent_job(request, job_id: int):
    """One of the agent's own jobs; another agent's is not found. A job only Opscore's workers
    run (the coding lane's) is shown without its lease: that token fences Opscore's own worker,
    and no runtime holds it."""
    agent, refusal = admit(request)
    if refusal:
        return refusal
    step = Step.objects.filter(pk=job_id, agent_id=agent).first()
    if step is None:
        return failure(404, f"no job {job_id}")
    job = step_json(step)
    if runs_inside(step.kind, step.payload):
        job["lease_token"] = None
    return JsonResponse({"ok": True, "job": job})
