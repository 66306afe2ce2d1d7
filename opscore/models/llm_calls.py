"""LLMCall: every call to a model, for accounting and reproduction."""

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now

from opscore.db import start_of_today
from opscore.models.agents import Agent


class LLMCallOutcome(models.TextChoices):
    OK = "ok"
    TRANSIENT_ERROR = "transient_error"
    ERROR = "error"
    BAD_REPLY = "bad_reply", "bad reply (answered, but unusable: never retried)"
    OVER_BUDGET = "over_budget"


class LLMCallQuerySet(models.QuerySet):
    def today(self):
        return self.filter(created_at__gte=start_of_today())

    def spend(self):
        return self.aggregate(total=models.Sum("cost_usd"))["total"] or 0

    def linked_to(self, **links):
        """Calls whose links carry all of these (`linked_to(conversation=7)`); served by
        llmcall_links_idx."""
        return self.filter(links__contains=links)

    def answered_by_a_provider(self):
        """The tries a provider saw: an over-budget refusal never left the house."""
        return self.exclude(outcome=LLMCallOutcome.OVER_BUDGET)


class LLMCall(models.Model):
    """Every call to a model, successful or not: tokens, cost and latency, for accounting."""

    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT)
    step = models.ForeignKey(
        "missions.Step", null=True, blank=True, on_delete=models.PROTECT, related_name="llm_calls"
    )
    purpose = models.CharField(max_length=100)
    lane = models.CharField(max_length=20, default="steps", help_text="whose LLM budget it spends")
    tier = models.CharField(
        max_length=10, default="main", help_text="the tier used; cheap when the lane is over soft"
    )
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    prompt_version = models.CharField(max_length=50)
    injected = models.JSONField(
        default=dict, blank=True, help_text="what the prompt carried: recalled ids, voice version"
    )
    versions = models.JSONField(
        default=dict, blank=True, help_text="the prompt and every policy version in force"
    )
    harness = models.CharField(
        max_length=100, blank=True, help_text="the agent harness and its version, if any"
    )
    links = models.JSONField(
        default=dict,
        blank=True,
        help_text="what the call served: step, mission, conversation, turn, candidates, "
        "opportunity, review",
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=LLMCallOutcome.choices)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())
    spend_day = models.DateField(
        null=True,
        editable=False,
        help_text="the day whose budget it spends, in OPS_TIME_ZONE: set by the database as the "
        "row is written (LLMSpend)",
    )

    objects = LLMCallQuerySet.as_manager()

    class Meta:
        verbose_name, verbose_name_plural = "LLM call", "LLM calls"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["agent", "created_at"], name="llmcall_agent_day_idx"),
            models.Index(fields=["created_at"], name="llmcall_day_idx"),
            models.Index(fields=["lane", "created_at"], name="llmcall_lane_day_idx"),
            GinIndex(fields=["links"], opclasses=["jsonb_path_ops"], name="llmcall_links_idx"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.model} {self.outcome}"


class LLMSpend(models.Model):
    """What each day's calls cost, per agent and lane, kept as the calls are written: a trigger
    on LLMCall adds every priced call (and takes back one changed or deleted), so the budget
    check before every call reads a few rows instead of summing every call of the day (5 ms at
    10k calls a day, 18 ms at 50k). The trigger: opscore/sql/llm_spend.v1.sql."""

    day = models.DateField()
    agent_slug = models.CharField(max_length=64, blank=True, help_text="'' for no agent")
    lane = models.CharField(max_length=20)
    usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    calls = models.IntegerField(default=0)

    class Meta:
        verbose_name, verbose_name_plural = "LLM spend", "LLM spends"
        constraints = [
            models.UniqueConstraint(fields=["day", "agent_slug", "lane"], name="llmspend_one_row")
        ]

    def __str__(self):
        return f"{self.day} {self.agent_slug or '-'} {self.lane}: ${self.usd}"
