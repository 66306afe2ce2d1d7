"""The event log: append-only facts every surface reads."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest, Now

from opscore.models.agents import Agent


class WritingTransaction(models.Func):
    """The id of the transaction writing the row (its top-level one, under a savepoint too)."""

    template = "(pg_current_xact_id()::text::bigint)"
    output_field = models.BigIntegerField()


class OwnTransaction(models.Func):
    """This session's transaction id, NULL while it has written nothing."""

    template = "(pg_current_xact_id_if_assigned()::text::bigint)"
    output_field = models.BigIntegerField()


class Watermark(models.Func):
    """The oldest transaction still running as the statement reads that may be this
    database's: every older one has committed or rolled back, so no event of theirs can appear
    later. A transaction known to run in another database of the server (pg_stat_activity's
    backend_xid, compared by its 32 low bits) holds nobody back here: another database's
    open transaction (another app on a shared server, another test worker's) stalled every
    reader until it ended. One that has ended since the snapshot, or whose backend is not
    listed, is kept: it may have been ours."""

    template = (
        "(SELECT coalesce(min(x::text::bigint),"
        " pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
        " FROM pg_snapshot_xip(pg_current_snapshot()) AS x"
        " WHERE mod(x::text::bigint, 4294967296) NOT IN ("
        "SELECT a.backend_xid::text::bigint FROM pg_stat_activity a"
        " WHERE a.datname IS DISTINCT FROM current_database() AND a.backend_xid IS NOT NULL))"
    )
    output_field = models.BigIntegerField()


class RowAfter(models.Func):
    """(a, b) > (c, d) as one row comparison: the (xact, id) index starts its scan at the
    cursor. Spelled `a >= c AND (a > c OR b > d)`, only `a >= c` bounded the scan, so a reader
    read every event of the cursor's own transaction (a bulk import's million) before the first
    one past it."""

    output_field = models.BooleanField()

    def as_sql(self, compiler, connection, **extra):
        (a, a_params), (b, b_params), (c, c_params), (d, d_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        return f"(({a}, {b}) > ({c}, {d}))", [*a_params, *b_params, *c_params, *d_params]


class EventQuerySet(models.QuerySet):
    """The log in the order readers page it: (xact, id). Ids come from a sequence at INSERT,
    but transactions commit in another order; a cursor by id alone passed an event whose
    transaction was still open, and never saw it once it committed."""

    def settled(self):
        """Events no later commit can precede: those of transactions older than the oldest one
        still running (which is this session, if it is the oldest). A reader's own uncommitted
        events count too (a test, a command that writes then reads): no reader that pages
        writes events before it reads. A transaction left open in this database holds every
        reader back until it ends (another database's does not: Watermark)."""
        own = Coalesce(OwnTransaction(), 0)
        highest = Greatest(Watermark(), own)  # the bound an index scan stops at
        return self.filter(xact__lte=highest).filter(Q(xact__lte=Watermark()) | Q(xact=own))

    def held_back(self):
        """Committed events a reader may not pass yet: an older transaction is still open."""
        return self.filter(xact__gt=Watermark()).exclude(xact=Coalesce(OwnTransaction(), 0))

    def after(self, event_id: int):
        """The settled events past the cursor `event_id`, in log order. The cursor stays an
        event id (the API's `next_after`); its place in the log is that event's (xact, id),
        or for an id no event has (a rollback burned it), the nearest event's below it."""
        at = Coalesce(
            Subquery(Event.objects.filter(id__lte=event_id).order_by("-id").values("xact")[:1]),
            0,
        )
        past = RowAfter(F("xact"), F("id"), at, Value(event_id))
        return self.settled().filter(past).order_by("xact", "id")

    def last_position(self) -> int:
        """The cursor of the newest settled event in log order (0: none): where a reader that
        wants only what comes next starts."""
        return self.settled().order_by("-xact", "-id").values_list("id", flat=True).first() or 0


class Event(models.Model):
    """An append-only fact. The database refuses UPDATE and DELETE on this table."""

    kind = models.CharField(max_length=100)
    title = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # No single-column indexes where a composite one below leads with the same column: every
    # index is written on every event insert, the hottest write in the system.
    # No database foreign keys either (db_constraint=False): a key check takes a KEY SHARE
    # lock on the agent and mission row for every event, and concurrent workers writing
    # events about one agent then contend on that row (MultiXacts). Events only ever name rows
    # that exist as they are written, and PROTECT still guards deletes through the ORM.
    agent = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    # Event kinds that name a proposal are few; a step's and a mission's events (most of them)
    # leave it NULL, and a full index wrote a NULL entry for each: event_proposal_idx is partial.
    proposal = models.ForeignKey(
        "missions.Proposal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    mission = models.ForeignKey(
        "missions.Mission",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    step = models.ForeignKey(
        "missions.Step",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_constraint=False,
    )
    actor = models.CharField(max_length=150, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    # The writing transaction: readers page by (xact, id) below the oldest running transaction
    # (EventQuerySet.after). Events written before it existed read 0: all long committed.
    xact = models.BigIntegerField(db_default=WritingTransaction(), editable=False)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["kind", "-id"], name="event_kind_idx"),
            models.Index(fields=["agent", "-id"], name="event_agent_idx"),
            models.Index(fields=["mission", "id"], name="event_mission_idx"),
            models.Index(fields=["xact", "id"], name="event_xact_idx"),
            models.Index(
                fields=["proposal"],
                condition=models.Q(proposal__isnull=False),
                name="event_proposal_idx",
            ),
            GinIndex(fields=["tags"], name="event_tags_gin"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "dedupe_key"],
                condition=models.Q(dedupe_key__isnull=False),
                name="event_dedupe_unique",
            ),
        ]

    def __str__(self):
        return f"#{self.id} {self.kind}"

    @property
    def conversation_ref(self) -> int | None:
        """The conversation the Stage links this event to: only a positive id. An outside
        runtime writes any payload it likes, and a link that cannot be drawn broke the Stage
        and its live feed for every viewer (the row is append-only: it would stay)."""
        value = self.payload.get("conversation_id") if isinstance(self.payload, dict) else None
        return value if type(value) is int and value > 0 else None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "summary": self.summary,
            "tags": self.tags,
            "payload": self.payload,
            "agent": self.agent_id,
            "proposal_id": self.proposal_id,
            "mission_id": self.mission_id,
            "step_id": self.step_id,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
        }
