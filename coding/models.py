"""The coding lane's records: repositories (trust zones), runs (the execution record of a dev
job, one branch and worktree each), iterations (one row per harness pass) and approvals (a
human's word, bound to one head commit)."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Now

from coding.run_rows import RunRowStatements
from opscore.digests import content_digest

BRANCH_PATTERN = r"^opscore/[0-9]+-[a-z0-9][a-z0-9-]{0,40}$"


class Repository(models.Model):
    """A local git repository the coding lane may touch, and on what terms."""

    name = models.SlugField(max_length=80, unique=True)
    path = models.CharField(max_length=500, help_text="absolute path of the main checkout")
    allowed_base_refs = models.JSONField(default=list, help_text='e.g. ["main"]')
    test_command = models.JSONField(default=list, blank=True, help_text="argv, run in the worktree")
    lint_command = models.JSONField(default=list, blank=True, help_text="argv, run in the worktree")
    runners = models.JSONField(default=list, help_text='runners allowed here, e.g. ["command"]')
    max_concurrent_runs = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self):
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_FOR_TESTS = "waiting_for_tests"
    WAITING_FOR_REVIEW = "waiting_for_review"
    REVISION_REQUESTED = "revision_requested"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = RunStatus
# status → the statuses a run may come from. Every move is a compare-and-set on this table, so a
# cancel and a late-finishing iteration cannot both win.
MOVES_FROM = {
    S.QUEUED: [S.BLOCKED, S.FAILED, S.CANCELLED],  # a human's retry
    S.RUNNING: [S.QUEUED, S.REVISION_REQUESTED, S.WAITING_FOR_TESTS, S.RUNNING],
    S.WAITING_FOR_TESTS: [S.RUNNING],
    S.WAITING_FOR_REVIEW: [S.WAITING_FOR_TESTS, S.WAITING_FOR_REVIEW],
    S.REVISION_REQUESTED: [S.WAITING_FOR_REVIEW],
    S.BLOCKED: [S.QUEUED, S.RUNNING, S.WAITING_FOR_TESTS, S.WAITING_FOR_REVIEW],
    S.COMPLETED: [S.WAITING_FOR_REVIEW],
    S.FAILED: [S.QUEUED, S.RUNNING, S.WAITING_FOR_TESTS, S.WAITING_FOR_REVIEW],
    S.CANCELLED: [
        S.QUEUED,
        S.RUNNING,
        S.WAITING_FOR_TESTS,
        S.WAITING_FOR_REVIEW,
        S.REVISION_REQUESTED,
        S.BLOCKED,
    ],
}
ACTIVE = [S.RUNNING, S.WAITING_FOR_TESTS]
STARTABLE = [S.QUEUED, S.REVISION_REQUESTED]
ENDED = [S.COMPLETED, S.FAILED, S.CANCELLED]


def without_cleanup(reason: str) -> str:
    """A reason without the cleanup refusal its last words may say."""
    return reason.split("; cleanup: ", 1)[0]


class CodingRunQuerySet(RunRowStatements):
    def active(self):
        return self.filter(status__in=ACTIVE)

    def startable(self):
        """Waiting to start, and not an agent's that a disable-agent or drain override has
        switched off: its run waits, as its steps do, until the override is lifted."""
        agent_on = Q(agent__isnull=True) | Q(agent__enabled=True, agent__draining=False)
        return self.filter(agent_on, status__in=STARTABLE)

    def holding_review_trees(self):
        """Waiting for review and still holding a worktree, which the heartbeat sets aside
        (coding/duties.py). The status index finds them."""
        return self.filter(status=S.WAITING_FOR_REVIEW).exclude(worktree_path="")

    def refused_last(self):
        """Never refused a set-aside first, oldest first; then those refused longest ago: a
        run git keeps refusing is tried again, but never again before every other."""
        return self.order_by(F("set_aside_refused_at").asc(nulls_first=True), "id")

    def said_set_aside_refused(self, run, stuck: str) -> None:
        """A set-aside git refused, said as an ended run's cleanup says one (its reason's last
        words, said once however often refused), and when: coding.duties tries it last."""
        said = f"{without_cleanup(run.reason)}; cleanup: {stuck}"
        waiting = self.filter(pk=run.pk, status=S.WAITING_FOR_REVIEW)
        waiting.update(reason=said, set_aside_refused_at=Now())

    def said_set_aside(self, run) -> None:
        """A run once refused set aside at last: the refusal is no longer its last word."""
        waiting = self.filter(pk=run.pk, status=S.WAITING_FOR_REVIEW)
        waiting.update(reason=without_cleanup(run.reason), set_aside_refused_at=None)

    def awaiting_human(self):
        """Reviewed and signed off by their agent: the next word (code or merge approval) is a
        person's."""
        signed = self.alias(reviewed_sha=KT("review__sha")).filter(reviewed_sha=F("head_sha"))
        return signed.filter(status=S.WAITING_FOR_REVIEW, review__decision="complete")


# What a run's limits count of its own progress since it last started afresh: never bound.
RUN_COUNTERS = ("first_iteration", "cost_before", "active_seconds")


class CodingRun(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="runs")
    step = models.OneToOneField(
        "missions.Step", null=True, blank=True, on_delete=models.PROTECT, related_name="coding_run"
    )
    agent = models.ForeignKey(
        "opscore.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    runner = models.CharField(max_length=40)
    mode = models.CharField(max_length=20, default="single-shot")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default="queued")
    reason = models.TextField(blank=True)
    base_ref = models.CharField(max_length=200)
    base_sha = models.CharField(max_length=64, blank=True)
    head_sha = models.CharField(max_length=64, blank=True, help_text="the commit under review")
    merged_sha = models.CharField(max_length=64, blank=True)
    branch = models.CharField(max_length=80, null=True, blank=True)
    worktree_path = models.CharField(max_length=500, blank=True)
    task = models.JSONField(default=dict, help_text="summary, problem, acceptance, constraints")
    limits = models.JSONField(default=dict, help_text="the caps this run started under")
    external_session_id = models.CharField(max_length=200, blank=True)
    process_group = models.IntegerField(null=True, blank=True, help_text="the live harness")
    iteration = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    prompt_input = models.TextField(blank=True)
    revision_notes = models.TextField(blank=True)
    result_summary = models.TextField(blank=True)
    patch_ref = models.CharField(max_length=500, blank=True, help_text="saved diff, if any")
    state_ref = models.CharField(
        max_length=200, blank=True, help_text="git ref keeping the worktree as it was at cleanup"
    )
    set_aside_refused_at = models.DateTimeField(
        null=True, blank=True, help_text="when git last refused to set its tree aside at review"
    )
    diff_stats = models.JSONField(default=dict, blank=True)
    test_summary = models.TextField(blank=True)
    lint_summary = models.TextField(blank=True)
    artifact_refs = models.JSONField(default=list, blank=True)
    review = models.JSONField(default=dict, blank=True, help_text="the reviewing agent's word")
    deploy_plan = models.JSONField(
        default=dict, blank=True, help_text="what a deploy would move (coding.deploys)"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    objects = CodingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["branch"], condition=Q(branch__isnull=False), name="coding_branch_unique"
            ),
            models.CheckConstraint(
                condition=Q(branch__isnull=True) | Q(branch__regex=BRANCH_PATTERN),
                name="coding_branch_shape",
            ),
        ]
        indexes = [models.Index(fields=["status", "id"], name="coding_run_status")]

    def __str__(self):
        return f"R{self.id} {self.repository.name} ({self.status})"

    def refresh_from_db(self, *args, **kwargs):
        """The run's own row afresh, keeping the repository row it already holds (Django drops
        it): a drive refreshes the run after every move, and re-reading an unchanged
        repository each time was a query per move. A run's repository never changes."""
        field = self._meta.get_field("repository")
        held = field.get_cached_value(self) if field.is_cached(self) else None
        super().refresh_from_db(*args, **kwargs)
        if held is not None and held.pk == self.repository_id and not field.is_cached(self):
            field.set_cached_value(self, held)

    @property
    def constraints(self) -> dict:
        return self.task.get("constraints") or {}

    @property
    def reviewed_at_head(self) -> bool:
        return bool(self.head_sha) and self.review.get("sha") == self.head_sha

    @property
    def signed_off(self) -> bool:
        """Its agent reviewed the commit now under review and said complete."""
        return self.reviewed_at_head and self.review.get("decision") == "complete"

    @property
    def passes_so_far(self) -> int:
        """Passes since the run last started afresh (a human's retry counts them anew)."""
        return self.iteration - self.limits.get("first_iteration", 1) + 1

    @property
    def spent_usd(self) -> Decimal:
        """Cost since the run last started afresh (a human's retry gives it a new budget)."""
        return self.cost_usd - Decimal(self.limits.get("cost_before", "0"))

    def cap_reached(self, driving: float = 0.0) -> str:
        """The cap the run has reached, '' when none: its row as its last move left it, plus
        `driving`, a drive's seconds not on the row yet (time waiting for review never is)."""
        caps, passes, spent = self.limits, self.passes_so_far, self.spent_usd
        if passes >= caps["max_iterations"]:
            return f"iteration cap reached: {passes} of {caps['max_iterations']} passes"
        if spent >= Decimal(str(caps["max_cost_usd"])):
            return f"cost cap reached: ${spent} of ${caps['max_cost_usd']}"
        active = caps.get("active_seconds", 0) + driving
        if active >= caps["max_wall_minutes"] * 60:
            return f"wall-time cap reached: {active / 60:.0f} of {caps['max_wall_minutes']} minutes"
        return ""

    def last_test_run(self) -> "CodingIteration | None":
        """The pass whose tests an approver sees beside the diff."""
        return self.iterations.order_by("-number").first()

    @property
    def caps(self) -> dict:
        """The limits it runs under, as its page shows them, without the counters a retry
        resets (RUN_COUNTERS): those are its progress, not what anyone approved."""
        return {k: v for k, v in self.limits.items() if k not in RUN_COUNTERS}

    def approval_content(self, kind: str) -> dict:
        """What an approval of `kind` is given for, exactly as the approval page shows it:
        the commit, the pass whose tests were seen, the task with its constraints, the
        harness and caps (the merged head's tests run under them), and the repository's test
        and lint commands — a merge's gate is them passing on the merged head, so one swapped
        for `true`, or a cap raised, after the approval is not what was approved."""
        tests, repo = self.last_test_run(), self.repository
        plan = {"plan": self.deploy_plan} if kind == ApprovalKind.DEPLOY else {}
        return plan | {
            "harness": {"runner": self.runner, "mode": self.mode},
            "caps": self.caps,
            "checks": {"tests": repo.test_command, "lint": repo.lint_command},
            "run": self.id,
            "kind": kind,
            "repository": self.repository.name,
            "base_ref": self.base_ref,
            "branch": self.branch or "",
            "head_sha": self.head_sha,
            "test_run": tests.id if tests else None,
            "task": self.task,
        }

    def approval_digest(self, kind: str) -> str:
        return content_digest(self.approval_content(kind))

    @property
    def author(self) -> str:
        """The human who asked for this work ('' for an agent's): they may not approve it."""
        if not self.step_id:
            return ""
        operator = self.step.mission.proposal.operator
        return operator.get_username() if operator else ""

    def move(self, status: str, reason: str = "", **fields) -> bool:
        """Compare-and-set from any status MOVES_FROM allows; False when someone else moved it
        first (a cancel beat the iteration), and then nothing is written."""
        values = {"status": status, "reason": reason[:2000], "updated_at": Now(), **fields}
        if status in ENDED:
            values["finished_at"] = Now()
        if status == S.RUNNING and self.started_at is None:
            values["started_at"] = Now()
        written = CodingRun.objects.move_returning(self.pk, values, MOVES_FROM[status])
        if not written:
            self.refresh_from_db()
            return False
        self.become(written[0])
        return True

    def become(self, row: "CodingRun") -> None:
        """This run as `row` (its row, as a statement just wrote it), the way refresh_from_db
        takes it: every column; relations dropped but the repository (a run's repository
        never changes)."""
        for field in self._meta.concrete_fields:
            setattr(self, field.attname, getattr(row, field.attname))
            if field.is_relation and field.name != "repository" and field.is_cached(self):
                field.delete_cached_value(self)
        for rel in self._meta.related_objects:
            if rel.is_cached(self):
                rel.delete_cached_value(self)


class CodingIteration(models.Model):
    run = models.ForeignKey(CodingRun, on_delete=models.CASCADE, related_name="iterations")
    number = models.PositiveIntegerField()
    prompt = models.TextField(blank=True)
    output_summary = models.TextField(blank=True)
    diff_hash = models.CharField(max_length=64, blank=True)
    changed_files = models.PositiveIntegerField(default=0)
    tests_passed = models.BooleanField(null=True)
    test_output = models.TextField(blank=True)
    test_signature = models.CharField(max_length=64, blank=True, help_text="same failure, same")
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    exit_status = models.IntegerField(null=True)
    verdict = models.CharField(max_length=200, blank=True, help_text="what the loop made of it")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="coding_iteration_unique")
        ]

    def __str__(self):
        return f"R{self.run_id} pass {self.number}"


class ApprovalKind(models.TextChoices):
    CODE = "code"
    MERGE = "merge"
    DEPLOY = "deploy"
    PROD_CONFIG = "prod-config"


class CodingApprovalQuerySet(models.QuerySet):
    def standing(self):
        return self.filter(voided_at__isnull=True)

    def standing_for(self, run: CodingRun, kind: str):
        return self.standing().filter(run=run, kind=kind, sha=run.head_sha).exclude(sha="")


class CodingApproval(models.Model):
    """A human's approval of one kind for one commit. A newer commit voids it (the row stays,
    with the reason)."""

    run = models.ForeignKey(CodingRun, on_delete=models.PROTECT, related_name="approvals")
    kind = models.CharField(max_length=20, choices=ApprovalKind.choices)
    sha = models.CharField(max_length=64)
    approved_by = models.CharField(max_length=150)
    content_digest = models.CharField(
        max_length=64, blank=True, help_text="sha256 of CodingRun.approval_content as approved"
    )
    test_run = models.ForeignKey(
        CodingIteration,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the pass whose tests the approver saw",
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    objects = CodingApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["run", "created_at"]
        permissions = [
            ("approve_code", "Can approve code"),
            ("approve_merge", "Can approve merges"),
            ("approve_deploy", "Can approve deploys"),
            ("approve_prod_config", "Can approve production-config changes"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind", "sha"],
                condition=Q(voided_at__isnull=True),
                name="coding_approval_once_per_commit",
            )
        ]

    def __str__(self):
        return f"{self.kind} approval of R{self.run_id} at {self.sha[:10]}"

    @property
    def still_matches(self) -> bool:
        """The run still holds what was approved (an approval from before digests has none)."""
        return not self.content_digest or self.content_digest == self.run.approval_digest(self.kind)
