"""The first-boot plan: a fresh install's first ten minutes of real work, so a newcomer sees
the company move before deciding whether it works.

Every item goes through the same doors as any other work: missions through the intake
(`submit_proposal`, source `plan`, dedupe key `first-boot:<name>`), talks through
`request_conversation` (source `first-boot`). Nothing is a fake event: what shows on the Stage is
what the workers and the roundtable really did. The plan starts only where `make run` found an
empty database (one `first_boot.plan_started` event), runs only while policy
`first_boot_plan.enabled` is true, and never fires once its window is past (a restart days
later does not replay it). An item that cannot start is a `first_boot.item_skipped` event with
the reason.
"""

from dataclasses import dataclass
from datetime import timedelta

from missions.actions import submit_proposal
from missions.models import ProposalSource
from missions.schemas import ProposalInvalid
from opscore.actions import record_event
from opscore.db import db_now
from opscore.models import Event, Policy
from roundtable.lifecycle import ConversationInvalid, request_conversation
from roundtable.models import Conversation

STARTED = "first_boot.plan_started"
SKIPPED = "first_boot.item_skipped"
STEP_PACE_SECONDS = 20  # a plan mission's steps become due this far apart: visible progress
LAST_CALL = timedelta(minutes=15)  # past this, a late tick starts nothing (no replays)
MARK = "Part of the first-boot plan (policy first_boot_plan; switch it off there)."


@dataclass(frozen=True)
class Work:
    """A mission of chained steps, one due every STEP_PACE_SECONDS; `ask` waits for a human."""

    at: int  # seconds after first boot
    name: str
    agent: str
    title: str
    steps: tuple[tuple[str, str], ...]  # (kind, topic or text)
    ask: bool = False

    def proposal(self) -> dict:
        steps = []
        for index, (kind, text) in enumerate(self.steps):
            payload = {"text": text} if kind == "post_tweet" else {"topic": text}
            steps.append(
                {
                    "kind": kind,
                    "payload": payload,
                    "depends_on": [index - 1] if index else [],
                    "delay_seconds": index * STEP_PACE_SECONDS,
                }
            )
        return {
            "agent": self.agent,
            "title": self.title,
            "description": MARK,
            "steps": steps,
            "dedupe_key": f"first-boot:{self.name}",
        }

    def start(self) -> bool:
        result = submit_proposal(
            self.proposal(),
            source=ProposalSource.PLAN,
            cause_ref="first-boot-plan",
            context={"plan": "first-boot"},
            needs_human=self.ask,
        )
        return result.created


@dataclass(frozen=True)
class Talk:
    """A roundtable conversation, paced like any other (OPS_TURN_PAUSE_SECONDS)."""

    at: int
    name: str
    format: str
    agents: tuple[str, ...]
    topic: str

    def start(self) -> bool:
        key = f"first-boot:{self.name}"
        if Conversation.objects.filter(requested_by=key).exists():
            return False
        request_conversation(
            self.format, list(self.agents), self.topic, source="first-boot", requested_by=key
        )
        return True


CREW = ("coordinator", "devops", "auditor", "publisher")


def chain(*topics: str, last: str = "analyze") -> tuple[tuple[str, str], ...]:
    """Three analyses and a summary: four steps, one due every STEP_PACE_SECONDS, so a mission
    moves for a minute. Mostly analyses: written content has a daily quota (content_policy)
    the company's own work needs more than the plan does."""
    return (
        *(("analyze", topic) for topic in topics[:-1]),
        (last, topics[-1]),
        ("analyze", "a summary of what the earlier steps found"),
    )


PLAN = [
    Talk(0, "standup", "standup", CREW, "our first day: what should we watch first?"),
    Work(
        0,
        "installation",
        "devops",
        "Get to know this installation",
        chain(
            "the workers, queues and schedules of a fresh install",
            "which standing orders prove themselves first",
            "a one-page runbook for the first week",
            last="write_content",
        ),
    ),
    Work(
        0,
        "first-hour-audit",
        "auditor",
        "Audit the first hour",
        chain(
            "what an auditor checks in a new company's first hour",
            "the approval rules in force",
            "first-hour audit notes",
        ),
    ),
    Work(
        0,
        "hello-tweet",
        "publisher",
        "Post our hello tweet",
        (("post_tweet", "Our operations core is live: agents propose, humans approve."),),
        ask=True,
    ),
    Work(
        60,
        "first-week-plan",
        "coordinator",
        "Plan the first week",
        chain("goals for the first week", "who owns which goal", "the first week's plan"),
    ),
    Work(
        120,
        "launch-drafts",
        "publisher",
        "Draft a launch tweet",
        chain(
            "what readers want from us",
            "why every decision is a row",
            "launch tweet",
            last="draft_tweet",
        ),
    ),
    Talk(180, "debate", "debate", ("devops", "auditor"), "how strict should approvals be?"),
    Work(
        180,
        "backup-check",
        "devops",
        "Check backups and restores",
        chain("what a restore drill proves", "how often backups run", "a backup checklist"),
    ),
    Work(
        240,
        "evidence-review",
        "auditor",
        "Review the evidence trail",
        chain("events, attempts and policy versions", "gaps in the trail", "evidence notes"),
    ),
    Work(
        300,
        "standing-orders",
        "coordinator",
        "Review the standing orders",
        chain("which orders matter most", "which orders overlap", "a note on the orders"),
    ),
    Work(
        360,
        "content-plan",
        "publisher",
        "Plan the first posts",
        chain("topics readers ask about", "a posting rhythm", "a two-week content plan"),
    ),
    Talk(
        420,
        "brainstorm",
        "brainstorm",
        ("coordinator", "publisher", "devops"),
        "what should we build next?",
    ),
    Work(
        420,
        "health-review",
        "devops",
        "Review the health strip",
        chain("queue depth and worker health", "alerts worth wiring", "a health checklist"),
    ),
    Work(
        480,
        "approval-review",
        "auditor",
        "Review the approvals so far",
        chain("what was auto-approved", "what waited for a human", "approval notes"),
    ),
    Work(
        540,
        "first-day-summary",
        "coordinator",
        "Sum up the first ten minutes",
        chain("what ran", "what waits for a human", "a summary for the humans"),
    ),
]
PLAN_SECONDS = max(item.at for item in PLAN)


def start_first_boot_plan(actor: str) -> Event:
    """Called once, by `make run` on an empty database: the plan's clock starts here."""
    return record_event(
        STARTED,
        "First-boot plan started: ten minutes of real work (policy first_boot_plan)",
        tags=["first-boot"],
        payload={"items": [item.name for item in PLAN]},
        actor=actor,
        dedupe_key="first-boot-plan",
    )


def run_first_boot_plan() -> dict:
    """Start every item that is due and not started yet; idempotent, cheap once past."""
    if not Policy.objects.value("first_boot_plan").enabled:
        return {"off": "policy first_boot_plan is disabled"}
    started = Event.objects.filter(kind=STARTED).values_list("created_at", flat=True).first()
    if started is None:
        return {"off": "this install did not start empty"}
    elapsed = db_now() - started
    if elapsed > LAST_CALL:
        return {"off": "the first ten minutes are over"}
    begun = [item.name for item in PLAN if item.at <= elapsed.total_seconds() and _start(item)]
    return {"started": begun}


def _start(item) -> bool:
    try:
        return item.start()
    except (ProposalInvalid, ConversationInvalid) as problem:
        record_event(
            SKIPPED,
            f"First-boot plan skipped {item.name}",
            summary=str(problem),
            tags=["first-boot", "skipped"],
            payload={"item": item.name},
            actor="system:first-boot",
            dedupe_key=f"first-boot-skip:{item.name}",
        )
        return False
