"""The agentbus verbs an external runtime needs to own an agent's work end to end: say a
claimed job is running (with its task ref and session key), keep its lease alive, and the
scheduling arguments of enqueue-job (--depends-on, --run-after). Every write is fenced by the
lease token, as complete/block/fail are."""

from missions.execution import renew_lease
from missions.models import Step, StepAttempt, StepStatus
from missions.step_kinds import runs_inside
from opscore.cli import decimal, whole
from opscore.db import db_now
from opscore.redaction import redact

MAX_DELAY_SECONDS = 7 * 24 * 3600


def handed_over(source: str | None, target: str) -> str:
    """Work an agent's runtime hands to another agent (`enqueue-job`, `convert-opportunity`) is
    that runtime's words in the other's name: it never runs without a person (nor counts as the
    other's own idea)."""
    if not source or source == target:
        return ""
    return f"handed to {target} by {source}'s runtime through the agent bus"


def run_by_opscore(kind: str, payload, agent: str) -> str:
    """A kind only Opscore's own executor runs (a post, a policy change, a code change) is no
    job of the runtime's own, even for its own agent: the runtime never claims it, Opscore
    runs its words with Opscore's hands (a post goes out on the company's channel). It never
    runs without a person, whatever auto_approve lets through by itself."""
    if not runs_inside(kind, payload):
        return ""
    return (
        f"{kind} runs in Opscore's own lane, asked for by {agent}'s runtime through the agent bus"
    )


# enqueue-job's options by the proposal field each one fills: a refused field is named as the
# caller sent it (subject, not title), and each transport spells that name its own way.
ENQUEUED_AS = {
    "title": "subject",
    "agent": "target_agent",
    "source_agent": "source_agent",
    "dedupe_key": "dedupe_key",
    "steps.0.kind": "kind",
    "steps.0.payload": "payload",
    "steps.0.priority": "priority",
    "steps.0.max_attempts": "max_attempts",
    "steps.0.after_steps": "depends_on",
    "steps.0.delay_seconds": "run_after",
}


def enqueued_option(path: str) -> str:
    head = next((f for f in ENQUEUED_AS if path == f or path.startswith(f"{f}.")), None)
    return ENQUEUED_AS[head] if head else path


def enqueued_problems(path: str, problems: list[str]) -> list[str]:
    """A refusal inside an option (a payload's `url`) names where in it: said under the
    option alone, four "Field required" told the caller nothing of which fields."""
    head = next((f for f in ENQUEUED_AS if path.startswith(f"{f}.")), None)
    inside = path[len(head) + 1 :] if head else ""
    return [f"{inside}: {problem}" for problem in problems] if inside else problems


def add_runtime_verbs(verbs) -> None:
    running = verbs.add_parser("mark-running-job", help="say a leased job has started")
    running.add_argument("job_id", type=whole)
    running.add_argument("--lease-token", required=True)
    running.add_argument("--openclaw-task-ref", default="")
    running.add_argument("--openclaw-session-key", default="")
    running.add_argument("--openclaw-meta", default="{}")
    running.add_argument("--summary", default="")
    renew = verbs.add_parser("renew-job-lease", help="keep a leased job's lease")
    renew.add_argument("job_id", type=whole)
    renew.add_argument("--lease-token", required=True)
    renew.add_argument("--lease-seconds", type=decimal, default=600)


def held_attempt(job_id: int, lease_token, bad_input, refused) -> StepAttempt:
    step = Step.objects.filter(pk=job_id).first()
    if step is None:
        raise bad_input(f"no job {job_id}")
    if step.status != StepStatus.RUNNING or step.lease_token != lease_token:
        refused(f"job {job_id}: the lease token no longer holds; refused", code=3)
    return StepAttempt.objects.get(step=step, lease_token=lease_token)


def mark_running_job(o: dict, *, token, json_object, bad_input, refused) -> dict:
    attempt = held_attempt(o["job_id"], token(o["lease_token"]), bad_input, refused)
    refs = redact(
        {
            "task_ref": o["openclaw_task_ref"],
            "session_key": o["openclaw_session_key"],
            "meta": json_object(o["openclaw_meta"], "openclaw_meta"),
            "summary": o["summary"],
        }
    )  # shown on the admin's attempt page: no secret a runtime pasted
    StepAttempt.objects.filter(pk=attempt.pk).update(runtime_refs=refs)
    return {"job_id": o["job_id"], "attempt": attempt.attempt_no, "runtime_refs": refs}


def ending_report(summary: str, result: str, json_object) -> dict:
    """What a runtime says as it blocks or fails a job besides why (the seed's --summary and
    --result): read before anything is written, so a result that is no JSON object is refused."""
    report = {"summary": summary, "result": json_object(result, "result")}
    return {name: value for name, value in report.items() if value}


def keep_report(job_id: int, lease_token, report: dict) -> None:
    """Kept on the attempt it ended, beside its running refs (the admin's attempt page): taken
    and answered ok, it was dropped. Called in the ending's transaction, once it applied."""
    if not report:
        return
    attempt = StepAttempt.objects.select_for_update().get(step_id=job_id, lease_token=lease_token)
    attempt.runtime_refs = (attempt.runtime_refs or {}) | redact(report)
    attempt.save(update_fields=["runtime_refs"])


def renew_job_lease(o: dict, *, token, bad_input, refused) -> dict:
    if not 1 <= o["lease_seconds"] <= 24 * 3600:
        raise bad_input("must be between 1 and 86400", option="lease_seconds")
    lease = token(o["lease_token"])
    held_attempt(o["job_id"], lease, bad_input, refused)
    if not renew_lease(o["job_id"], lease, o["lease_seconds"], beat=False):
        refused(f"job {o['job_id']}: the lease token no longer holds; refused", code=3)
    step = Step.objects.get(pk=o["job_id"])
    return {"job_id": step.id, "lease_expires_at": step.lease_expires_at.isoformat()}


def delay_until(run_after, bad_input) -> int:
    """run_after as the intake's delay, by the database clock; the past means now."""
    seconds = int((run_after - db_now()).total_seconds())
    if seconds > MAX_DELAY_SECONDS:
        raise bad_input("at most 7 days ahead", option="run_after")
    return max(0, seconds)
