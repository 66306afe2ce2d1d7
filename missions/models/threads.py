"""Threads: an operator's comments on a mission, proposal, opportunity or coding run, the owning
agent's replies, and the questions an agent asks the operator while its step waits.

A thread is not a row: it is the comments on one subject (kind, id), in order. A question's
state is derived, not stored: answered when an answer replies to it, closed when its step ended
before its wait did (nothing reads an answer then), expired once `expires_at` passed on the
database clock, open otherwise."""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now

from missions.models.steps import STEP_TERMINAL


class SubjectKind(models.TextChoices):
    MISSION = "mission"
    PROPOSAL = "proposal"
    OPPORTUNITY = "opportunity"
    CODING_RUN = "coding_run", "coding run"


class CommentKind(models.TextChoices):
    REMARK = "remark", "remark (an operator's comment)"
    REPLY = "reply", "reply (the agent's answer to a remark)"
    QUESTION = "question", "question (an agent asks the operator; its step waits)"
    ANSWER = "answer", "answer (the operator's answer to a question)"


FROM_AGENT = [CommentKind.REPLY, CommentKind.QUESTION]


class CommentQuerySet(models.QuerySet):
    def on(self, kind: str, subject_id: int):
        return self.filter(subject_kind=kind, subject_id=subject_id)

    def open_questions(self):
        """Questions with no answer whose wait has not run out (database clock) and whose
        step still waits."""
        waiting = self.filter(kind=CommentKind.QUESTION, expires_at__gt=Now())
        return waiting.exclude(replies__kind=CommentKind.ANSWER).exclude(
            step__status__in=STEP_TERMINAL
        )

    def with_question_state(self):
        """What `Comment.question_state` reads, fetched with the comments: whether an answer
        came and the step, so a thread of many questions costs no query per question."""
        answers = Comment.objects.filter(in_reply_to=OuterRef("pk"), kind=CommentKind.ANSWER)
        return self.select_related("step").annotate(is_answered=Exists(answers))


class Comment(models.Model):
    """One message on a thread. `agent` is the agent who wrote it (reply, question) or whom an
    operator's remark addresses (the owner, or the one an `@slug` mention names)."""

    subject_kind = models.CharField(max_length=20, choices=SubjectKind.choices)
    subject_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=10, choices=CommentKind.choices)
    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    actor = models.CharField(max_length=150, help_text="operator:ann, api:…, or agent:slug")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    text = models.TextField()
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    mission = models.ForeignKey(
        "missions.Mission",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="comments",
        help_text="the mission whose next step's prompt carries this comment",
    )
    step = models.ForeignKey(
        "missions.Step",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="questions",
        help_text="the step that waits for this question's answer",
    )
    llm_call = models.ForeignKey(
        "opscore.LLMCall", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    starts_work = models.BooleanField(
        default=True, help_text="false: kept for the record, nothing reacts (a closed subject)"
    )
    note = models.CharField(
        max_length=300, blank=True, help_text="why it starts no work, or why no reply came"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="a question's wait ends")
    created_at = models.DateTimeField(db_default=Now())

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["subject_kind", "subject_id", "id"], name="comment_thread_idx"),
            models.Index(fields=["actor", "created_at"], name="comment_actor_day_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="question") | Q(expires_at__isnull=False, step__isnull=False),
                name="comment_question_waits_with_a_step",
            ),
            models.CheckConstraint(
                condition=~Q(kind="answer") | Q(in_reply_to__isnull=False),
                name="comment_answer_names_its_question",
            ),
        ]

    def __str__(self):
        return f"T{self.id} {self.kind} on {self.subject_kind}:{self.subject_id}"

    @property
    def thread(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"

    @property
    def from_agent(self) -> bool:
        return self.kind in FROM_AGENT

    def answer(self):
        """A question's answer, if one came."""
        return self.replies.filter(kind=CommentKind.ANSWER).order_by("id").first()

    def as_json(self, now) -> dict:
        state = self.question_state(now)
        return {
            "id": self.id,
            "thread": self.thread,
            "kind": self.kind,
            "agent": self.agent_id,
            "actor": self.actor,
            "text": self.text,
            "in_reply_to": self.in_reply_to_id,
            "mission_id": self.mission_id,
            "step_id": self.step_id,
            "llm_call_id": self.llm_call_id,
            "starts_work": self.starts_work,
            "note": self.note,
            "question_state": state or None,
            "question_closed": self.question_closed_by() if state == "closed" else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "created_at": self.created_at.isoformat(),
        }

    def question_state(self, now) -> str:
        """answered, closed (`question_closed_by` says why), expired or open; "" for a
        comment that is no question."""
        if self.kind != CommentKind.QUESTION:
            return ""
        if self.was_answered():
            return "answered"
        if self.question_closed_by():
            return "closed"
        return "expired" if self.expires_at <= now else "open"

    def question_closed_by(self) -> str:
        """Why an unanswered question waits no more though its wait had not run out: its step
        ended first ("S5 is cancelled"), so no prompt would read an answer. A step that
        ended after the wait ran out leaves the question expired."""
        if self.kind != CommentKind.QUESTION:
            return ""
        step = self.step
        ended_first = step.finished_at is None or step.finished_at < self.expires_at
        return f"S{step.id} is {step.status}" if step.is_terminal and ended_first else ""

    def was_answered(self) -> bool:
        """From `with_question_state`'s annotation when the comment came with it."""
        answered = getattr(self, "is_answered", None)
        return self.answer() is not None if answered is None else answered
