"""The coding lane's records: repositories (trust zones), runs (the execution record of a dev
job, one branch and worktree each) and iterations (one row per harness pass)."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

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


class CodingRun(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="runs")
    step = models.ForeignKey(
        "missions.Step", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    runner = models.CharField(max_length=40)
    mode = models.CharField(max_length=20, default="single-shot")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default="queued")
    reason = models.TextField(blank=True)
    base_ref = models.CharField(max_length=200)
    base_sha = models.CharField(max_length=64, blank=True)
    branch = models.CharField(max_length=80, null=True, blank=True)
    worktree_path = models.CharField(max_length=500, blank=True)
    task = models.JSONField(default=dict, help_text="summary, problem, acceptance criteria")
    iteration = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    result_summary = models.TextField(blank=True)
    patch_ref = models.CharField(max_length=500, blank=True, help_text="saved diff, if any")
    diff_stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

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

    def __str__(self):
        return f"R{self.id} {self.repository_id} ({self.status})"


class CodingIteration(models.Model):
    run = models.ForeignKey(CodingRun, on_delete=models.CASCADE, related_name="iterations")
    number = models.PositiveIntegerField()
    prompt = models.TextField(blank=True)
    output_summary = models.TextField(blank=True)
    diff_hash = models.CharField(max_length=64, blank=True)
    tests_passed = models.BooleanField(null=True)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    exit_status = models.IntegerField(null=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="coding_iteration_unique")
        ]

    def __str__(self):
        return f"R{self.run_id} pass {self.number}"
