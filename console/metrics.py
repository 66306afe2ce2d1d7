"""`GET /metrics` in prometheus_client's conventions.

Two kinds of figure, kept apart so a dashboard over several web nodes adds nothing twice:
- **database-wide** (everything under `opscore_`), from one collector that reads PostgreSQL at
  scrape time. Every node reports the same value; each HELP says "database-wide" and every
  family carries the label `scope="database"`, so aggregate with `max`, never `sum` (or set
  OPS_METRICS_DATABASE=false on all but one node). Row counts that only grow are counters
  (`…_total`); retention deleting old rows reads as a counter reset, which `rate()` absorbs.
- **per process** (`process_…`, `python_…`): prometheus_client's own collectors, which do sum.
"""

from collections import Counter

from django.conf import settings
from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from coding.models import CodingRun
from console.health import SWEEP_STALLED_AFTER, health_snapshot, llm_spend, sweeper_state
from console.status import oldest_claimable_seconds
from missions.breaker import switched_off_kinds
from missions.models import (
    STEP_DEATH_EVENTS,
    STEP_TERMINAL,
    OutboxMessage,
    PublicationStatus,
    Step,
    StepStatus,
)
from opscore.actions import capped_loops
from opscore.models import Event, LLMCall, LLMCallOutcome, Policy
from opscore.overrides import active_overrides
from opscore.policy_names import describe_unknown

WIDE = " (database-wide: every node reports the same value; aggregate with max, not sum)"
SCOPE = {"scope": "database"}
LLM_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def gauge(name, doc, labels=(), rows=(), value=None):
    """One family; `value` for a single unlabelled sample (None: no sample, nothing to say)."""
    family = GaugeMetricFamily(f"opscore_{name}", doc + WIDE, labels=[*SCOPE, *labels])
    for *label_values, sample in [(value,)] if value is not None else rows:
        family.add_metric(["database", *map(str, label_values)], float(sample or 0))
    return family


def counter(name, doc, labels=(), rows=()):
    family = CounterMetricFamily(f"opscore_{name}", doc + WIDE, labels=[*SCOPE, *labels])
    for *label_values, sample in rows:
        family.add_metric(["database", *map(str, label_values)], float(sample or 0))
    return family


class DatabaseCollector:
    """Read at scrape time, so a scrape is as fresh as `status`."""

    def collect(self):
        health = health_snapshot()
        yield from queue_families(health)
        yield from worker_families(health)
        yield from llm_families()
        yield from control_families()


def queue_families(health: dict):
    steps = Step.objects.values_list("status", "kind").annotate(n=Count("id")).order_by()
    yield gauge("steps", "Steps by status and kind", ["status", "kind"], steps)
    yield counter(
        "steps_finished",
        "Step endings, by final status: one a person retried stays counted, its next ending"
        " counts again",
        ["status"],
        finished(),
    )
    deaths = Event.objects.filter(kind__in=STEP_DEATH_EVENTS).count()
    yield counter(
        "steps_died",
        "Step deaths (out of attempts or dead-lettered), a retried one's included",
        rows=[(deaths,)],
    )
    yield gauge(
        "steps_expired_leases",
        "Running steps whose lease ran out",
        value=health["expired_lease_count"],
    )
    yield gauge(
        "steps_retry_hotspots",
        "Steps tried three times or more that have not succeeded (dead, failed, cancelled ones"
        " included)",
        value=health["retry_hotspot_count"],
    )
    for age in ("oldest_queued_age_seconds", "oldest_blocked_age_seconds"):
        yield gauge(
            f"steps_{age}",
            f"Age of the {age.split('_')[1]} step, absent when none",
            value=health[age],
        )
    yield gauge(
        "steps_oldest_claimable_age_seconds",
        "Age of the oldest queued step no switch holds (paused mission or lane, disabled or"
        " drained agent, kind switched off), absent when none",
        value=oldest_claimable_seconds(),
    )


def finished() -> list[tuple[str, int]]:
    """Every final status, failed included, and each one from zero: a counter first seen at 1
    loses that first increase to `rate()`. The steps on file by status, plus the endings a
    retry took back (its `step.retried` event: the step's old status and the cancelled
    dependents it revived): counted as they stand, each retry made the counter fall, which
    Prometheus reads as a reset and `increase()` counted every ended step again."""
    ended = Step.objects.filter(status__in=STEP_TERMINAL).values_list("status")
    counts = Counter(dict(ended.annotate(n=Count("id")).order_by()))
    retried = Event.objects.filter(kind="step.retried")
    counts.update(
        dict(retried.values_list("payload__from_status").annotate(n=Count("id")).order_by())
    )
    revived = KeyTextTransform("dependents_requeued", "payload")
    counts[StepStatus.CANCELLED] += (
        retried.aggregate(n=Sum(Cast(revived, IntegerField())))["n"] or 0
    )
    return [(status, counts[status]) for status in STEP_TERMINAL]


def worker_families(health: dict):
    sweeper = sweeper_state()
    runs = [(k.removesuffix("_last_24h"), v) for k, v in health.items() if k.endswith("_last_24h")]
    yield gauge(
        "standing_order_runs_24h",
        "Standing-order runs in the last 24 h, by status",
        ["status"],
        runs,
    )
    yield gauge(
        "workers",
        f"Worker rows: live (seen within {settings.OPS_WORKER_STALE_SECONDS} s) or stale"
        " (silent, never said it stopped)",
        ["state"],
        [("live", health["healthy_worker_count"]), ("stale", health["stale_worker_count"])],
    )
    yield gauge(
        "worker_last_seen_age_seconds",
        "Seconds since any worker last reported",
        value=health["seconds_since_last_worker_seen"],
    )
    yield gauge(
        "sweeper_last_swept_age_seconds",
        "Seconds since the django-q cluster (every timer) last finished the minute sweep, absent"
        " when it never has",
        value=sweeper["seconds_ago"],
    )
    yield gauge(
        "sweeper_stalled",
        f"1 when no sweep of the cluster succeeded for {SWEEP_STALLED_AFTER.seconds} s or ever"
        " (as `status` says STALLED), else 0",
        value=int(sweeper["stalled"]),
    )
    yield gauge(
        "leases_held", "Running steps holding a valid lease", value=health["leases_owned_total"]
    )
    yield gauge("busy_agents", "Agents with a running step", value=health["busy_agents_total"])


def llm_families():
    yield gauge(
        "llm_provider",
        "The LLM provider agents are answered by (offline: their words are stand-ins, not a"
        " model's judgement)",
        ["provider"],
        [(settings.OPSCORE_LLM, 1)],
    )
    calls = (
        LLMCall.objects.values_list("provider", "lane", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    yield counter("llm_calls", "LLM calls recorded", ["provider", "lane", "outcome"], calls)
    totals = LLMCall.objects.aggregate(
        i=Sum("input_tokens"), o=Sum("output_tokens"), usd=Sum("cost_usd")
    )
    yield counter(
        "llm_tokens", "LLM tokens", ["direction"], [("input", totals["i"]), ("output", totals["o"])]
    )
    yield counter("llm_cost_usd", "LLM spend in US dollars", rows=[(totals["usd"],)])
    yield llm_latency()
    spend = llm_spend()
    lanes = [(lane["lane"], lane["spent_usd"]) for lane in spend["lanes"]]
    yield gauge("llm_spend_today_usd", "LLM spend today by lane", ["lane"], lanes)
    yield gauge("llm_budget_today_usd", "The daily LLM budget", value=spend["budget_today_usd"])


def llm_latency() -> HistogramMetricFamily:
    """LLM call durations as a cumulative histogram, counted by the database (latency_ms).
    A call the budget refused was never made: its 0 ms would pull every quantile down."""
    bounds = {
        f"le_{i}": Count("id", filter=Q(latency_ms__lte=b * 1000))
        for i, b in enumerate(LLM_SECONDS_BUCKETS)
    }
    made = LLMCall.objects.exclude(outcome=LLMCallOutcome.OVER_BUDGET)
    row = made.aggregate(n=Count("id"), ms=Sum("latency_ms"), **bounds)
    buckets = [(floatToGoString(b), row[f"le_{i}"]) for i, b in enumerate(LLM_SECONDS_BUCKETS)]
    family = HistogramMetricFamily(
        "opscore_llm_call_duration_seconds", "LLM call durations" + WIDE, labels=list(SCOPE)
    )
    family.add_metric(["database"], [*buckets, ("+Inf", row["n"])], (row["ms"] or 0) / 1000)
    return family


def control_families():
    yield gauge("overrides_in_force", "Overrides in force", value=len(active_overrides()))
    unknown = describe_unknown(Policy.objects.unknown_names())
    yield gauge(
        "policy_unknown_names",
        "Policy fields naming step kinds or lanes no loaded app knows (kept, ignored)",
        value=len(unknown),
    )
    yield gauge(
        "breakers_open",
        "Step kinds switched off by the circuit breaker or an operator",
        ["kind"],
        [(k, 1) for k in switched_off_kinds()],
    )
    outbox = OutboxMessage.objects.waiting()
    yield gauge(
        "outbox_messages",
        "Outbox messages waiting, given up, or refused (an ended mission's: no failure)",
        ["status"],
        [(s, outbox[s]) for s in ("pending", "failed", "refused")],
    )
    yield gauge(
        "outbox_oldest_due_age_seconds",
        "How long the oldest due outbox message has waited for a deliverer, absent when none",
        value=outbox["oldest_due_age_seconds"],
    )
    left = [PublicationStatus.PUBLISHED, PublicationStatus.DELETED]  # local or refused never did
    sent = (
        OutboxMessage.objects.filter(status="delivered")
        .filter(Q(publication__isnull=True) | Q(publication__status__in=left))
        .values_list("channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    yield counter(
        "notifications_delivered", "Outbox messages delivered, by channel", ["channel"], sent
    )
    runs = CodingRun.objects.values_list("status").annotate(n=Count("id")).order_by()
    yield gauge("coding_runs", "Coding runs by status", ["status"], runs)
    yield gauge(
        "loops_capped",
        "Loops stopped at their cap lately (a sweep.capped row within two hours), by loop: "
        "what waited at the latest",
        ["loop"],
        sorted(capped_loops().items()),
    )


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if settings.OPS_METRICS_DATABASE:
        registry.register(DatabaseCollector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
