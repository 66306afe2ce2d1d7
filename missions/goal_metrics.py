"""The ledger's own numbers a goal may target: each a name, a unit and one SQL query over
tables that already exist, counted over [since, until]: work done at the moment of measuring
counts.

A query takes `%(goal)s`: NULL counts the whole company, a goal id counts only the work whose
proposal named that goal (scope `goal`). Nothing here is stored: progress is re-measured from
the rows, so it can always be checked against the admin.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

# A mission (and so its steps, calls and outputs) serves a goal through its proposal.
_SERVES = "(%(goal)s::bigint IS NULL OR p.goal_id = %(goal)s::bigint)"
_MISSION_JOIN = "JOIN missions_proposal p ON p.id = m.proposal_id"
_STEP_JOIN = f"JOIN missions_mission m ON m.id = s.mission_id {_MISSION_JOIN}"
# The output a rating is about (an artifact, a publication, else the mission itself): rated
# useful twice, by a second click or a second operator, it is still one output.
_OUTPUT = "coalesce('A' || f.artifact_id, 'P' || f.publication_id, 'M' || f.mission_id)"
# Each person's latest opinion of each output (memory.feedback_learning.tally's rule): one who
# rated it useful and then not useful counts as they now think.
_OPINION = "f.mission_id, f.artifact_id, f.publication_id, f.given_by"

# Posted, whatever became of it since: one deleted on its channel later was still published
# (Publication.is_posted), and counting it no more gave an allowance of posts back.
_WENT_OUT = "('published', 'deleted')"

# Company-wide, what live replays paid for: their calls' rows were rolled back, their ReplayRun
# keeps the cost (and the day's budget counts it), so LLMCall alone under-counts the spend.
_REPLAYS = (
    "%(goal)s::bigint IS NULL AND r.mode = 'live' AND r.created_at >= %(since)s AND "
    "r.created_at <= %(until)s"
)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    sql: str


def _missions_ending(*statuses: str) -> str:
    ended = ", ".join(f"'{status}'" for status in statuses)
    return (
        f"SELECT count(*) FROM missions_mission m {_MISSION_JOIN} WHERE m.status IN ({ended}) "
        f"AND m.finished_at >= %(since)s AND m.finished_at <= %(until)s AND {_SERVES}"
    )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            "missions_succeeded", "missions succeeded", "missions", _missions_ending("succeeded")
        ),
        # Timed out is failed too: past its deadline, the sweeper failed its open steps.
        Metric(
            "missions_failed",
            "missions failed or timed out",
            "missions",
            _missions_ending("failed", "timed_out"),
        ),
        Metric(
            "publications",
            "items published",
            "publications",
            "SELECT count(*) FROM missions_publication pub JOIN missions_step s ON s.id = "
            f"pub.step_id {_STEP_JOIN} WHERE pub.status IN {_WENT_OUT} AND pub.published_at >= "
            f"%(since)s AND pub.published_at <= %(until)s AND {_SERVES}",
        ),
        Metric(
            "llm_spend_usd",
            "LLM spend",
            "USD",
            "SELECT (SELECT coalesce(sum(c.cost_usd), 0) FROM opscore_llmcall c LEFT JOIN "
            "missions_step s ON s.id = c.step_id LEFT JOIN missions_mission m ON m.id = "
            "s.mission_id LEFT JOIN missions_proposal p ON p.id = m.proposal_id WHERE "
            f"c.created_at >= %(since)s AND c.created_at <= %(until)s AND {_SERVES}) + "
            f"(SELECT coalesce(sum(r.cost_usd), 0) FROM opscore_replayrun r WHERE {_REPLAYS})",
        ),
        Metric(
            "proposals_accepted",
            "proposals accepted",
            "proposals",
            "SELECT count(*) FROM missions_proposal p WHERE p.status = 'accepted' AND "
            f"p.decided_at >= %(since)s AND p.decided_at <= %(until)s AND {_SERVES}",
        ),
        Metric(
            "useful_feedback",
            "outputs rated useful",
            "outputs",
            f"SELECT count(DISTINCT output) FROM (SELECT DISTINCT ON ({_OPINION}) "
            f"{_OUTPUT} AS output, f.rating FROM "
            f"missions_feedback f JOIN missions_mission m ON m.id = f.mission_id {_MISSION_JOIN} "
            f"WHERE f.created_at >= %(since)s AND f.created_at <= %(until)s AND {_SERVES} "
            f"ORDER BY {_OPINION}, f.id DESC) latest WHERE latest.rating = 'useful'",
        ),
    ]
}


def measure(metric: str, since: datetime, until: datetime, goal_id: int | None = None) -> float:
    """The metric's value over [since, until]: one query, read on the database's clock."""
    with connection.cursor() as cursor:
        cursor.execute(METRICS[metric].sql, {"since": since, "until": until, "goal": goal_id})
        return float(cursor.fetchone()[0] or 0)


def describe() -> list[dict]:
    return [{"name": m.name, "label": m.label, "unit": m.unit} for m in METRICS.values()]
