"""Production configuration changes as versioned policy diffs behind an approval. A
`config.change` step names the policy key, the new value and the version it was written
against; it is never auto-approved, and approving it needs the production-config permission
(opscore.four_eyes). It applies only if the policy is still at that version — so what runs is
exactly the diff that was approved (old value of that version → new value) — and it is
refused with an event otherwise."""

import json

from missions.execution import LeaseLost, under_lease
from missions.executors import Failed, Succeeded
from opscore.actions import record_event, set_policy
from opscore.models import Policy, PolicyVersion
from opscore.overrides import OverrideRefused, refuse_owned_change
from opscore.policies import SCHEMAS, PolicyError, validate_policy
from opscore.registry import StepKind
from opscore.text import ReasonRefused, checked_reason, clean_reason

KIND = "config.change"


def check_payload(payload: dict) -> dict[str, list[str]]:
    key, errors = payload.get("key"), {}
    if not is_policy_key(key):
        return {"key": [f"one of the policy keys: {', '.join(sorted(SCHEMAS))}"]}
    try:
        refuse_owned_change(key, validate_policy(key, payload.get("value")))
    except (PolicyError, OverrideRefused) as refused:
        errors["value"] = [str(refused)]
    if why := base_version_error(key, payload.get("base_version")):
        errors["base_version"] = [why]
    try:  # kept on the policy's version row (500 wide), as every reason is
        checked_reason(payload.get("reason"), needed_by="a production-config change")
    except ReasonRefused as refused:
        errors["reason"] = [str(refused)]
    return errors


def is_policy_key(key) -> bool:
    """A key from a payload names a policy only as text: a list or an object, looked up as it
    came, cannot be hashed and raised where the field should have been named."""
    return isinstance(key, str) and key in SCHEMAS


def base_version_error(key: str, version) -> str:
    """A diff is written against a version the policy has had: against a later one its card
    could only show the schema's defaults as the old values, and a delayed step would run
    once the policy reached that version, over values nobody approving it was shown."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        return "the policy version this diff is written against (0: unset)"
    now = version_now(key)
    if version > now:
        return f"{key} is at version {now}: a diff is written against a version it has"
    return ""


STEP_KIND = StepKind(
    KIND,
    "Change a policy: a versioned diff, applied only as approved",
    idempotent=False,
    auto_approvable=False,
    check_payload=check_payload,
    claimable_outside=False,
)


def diff_preview(payload: dict) -> str:
    """The diff an approver approves: each field of the policy at the base version → the value
    the change will store (a field the value leaves out is stored as its default, so it shows
    as reset, never as unchanged)."""
    key, base = payload.get("key"), payload.get("base_version")
    if not is_policy_key(key):
        return ""
    row = PolicyVersion.objects.filter(policy_id=key, version=base).first()
    old = row.new_value if row else SCHEMAS[key]().model_dump(mode="json")
    new = value_to_store(key, payload.get("value"), old)
    lines = [
        f"{field}: {json.dumps(old.get(field))} → {json.dumps(new.get(field))}"
        for field in sorted(set(old) | set(new))
        if old.get(field) != new.get(field)
    ]
    head = f"{key} at version {base}{'' if row else ' (schema default)'}:"
    return "\n".join([head, *lines] if lines else [head, "no change"])


def value_to_store(key: str, value, old: dict) -> dict:
    """What set_policy would store for `value` written over `old`: the same normalisation."""
    if not isinstance(value, dict):
        return {}
    try:
        return validate_policy(key, value, stored=old)
    except PolicyError:
        return value  # refused at the intake; shown as given


def version_now(key: str, *, lock: bool = False) -> int:
    policies = Policy.objects.select_for_update() if lock else Policy.objects
    return policies.filter(key=key).values_list("version", flat=True).first() or 0


def run_config_change(run):
    """Checked and applied under the step's lease (a worker that lost it applies nothing) and
    under the policy's row lock, so no other change slips in between the check and the write."""
    try:
        with under_lease(run.step.id, run.token):
            return apply_change(run.step)
    except LeaseLost as lost:
        return Failed(str(lost), retryable=False)


def applied_before(step, key: str, base: int) -> Succeeded | None:
    """The step's own diff, already in force: an earlier attempt set the policy and its worker
    died before its answer was kept. A retry refused as 'not at the approved version' told the
    operator the change had not happened, though it had, by this very step."""
    own = PolicyVersion.objects.filter(
        policy_id=key, version=base + 1, changed_by=f"step:{step.id}"
    ).first()
    if own is None:
        return None
    said = "applied by an earlier attempt of this step"
    return Succeeded({"key": key, "from_version": base, "version": own.version, "note": said})


def apply_change(step):
    payload = step.payload
    key, base = payload["key"], payload["base_version"]
    now = version_now(key, lock=True)
    if applied := applied_before(step, key, base):
        return applied
    if now != base:
        reason = f"{key} is at version {now}, not {base} as approved: propose the diff again"
        record_event(
            "config.change_refused",
            f"S{step.id}: {key} change refused",
            summary=reason,
            tags=["policy", "refused", key],
            payload={"key": key, "base_version": base, "version_now": now},
            agent_id=step.agent_id,
            mission_id=step.mission_id,
            step=step,
            actor="system:worker",
        )
        return Failed(reason, retryable=False, input_refused=True)
    policy = set_policy(
        key, payload["value"], actor=f"step:{step.id}", reason=clean_reason(payload["reason"])
    )
    return Succeeded({"key": key, "from_version": base, "version": policy.version})
