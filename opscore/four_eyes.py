"""Who may decide what: a Django permission per decision kind (given through groups such as
"approvers" and "release managers"), and never the author of the thing decided. A superuser
holds every permission but is still nobody's second pair of eyes on their own work."""

from dataclasses import dataclass

from opscore.registry import Registry


@dataclass(frozen=True)
class Decision:
    permission: str  # "app_label.codename"
    label: str  # what the Stage and the admin say it needs


PROPOSAL = Decision("missions.approve_proposal", "can approve proposals")


def why_not_decide(user, decision: Decision, author: str = "") -> str:
    """'' when `user` may take this decision; otherwise the one-line reason."""
    if user is None or not user.is_authenticated:
        return f"needs: {decision.label} — sign in to decide"
    name = user.get_username()
    if not user.has_perm(decision.permission):
        return f"needs: {decision.label} — {name} can't"
    if author and author == name:
        return f"{name} proposed this; someone else with '{decision.label}' must decide"
    return ""


# approval kind (`code`, `deploy` …) → who may give it; the app that asks for it registers it.
DECISIONS: Registry = Registry("approval decision")
# A proposal with steps of these kinds needs their decision's permission too: approving it
# is approving the deploy or the production-config change. Registered with DECISIONS.
STEP_KIND_DECISIONS: Registry = Registry("step kind's decision")


def proposal_decisions(step_kinds) -> list[Decision]:
    extra = {STEP_KIND_DECISIONS[k] for k in step_kinds if k in STEP_KIND_DECISIONS}
    return [PROPOSAL, *sorted(extra, key=lambda d: d.permission)]


def why_not_approve_proposal(user, step_kinds, author: str = "") -> str:
    for decision in proposal_decisions(step_kinds):
        why = why_not_decide(user, decision, author)
        if why:
            return why
    return ""


def who_may_approve(step_kinds) -> str:
    needs = " and ".join(f"'{d.label}'" for d in proposal_decisions(step_kinds))
    return f"people with {needs}, other than its author"


def deciding_user(username: str):
    """The person the CLI or the API decides as, by name: an active user, or None."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username, is_active=True).first()
