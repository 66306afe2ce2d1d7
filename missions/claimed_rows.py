"""The claimed step as the worker gets it back from the database: which columns, and how a row
(or the fast path's JSON array) becomes a Step without Django's per-field machinery."""

import json
import uuid
import weakref
from datetime import datetime

import psycopg
from django.db import connection, models
from django.db.models import signals
from django.db.models.base import ModelState
from psycopg.types.json import JsonLoader

from missions.models import Step

# What a worker needs of the step it claims; the rest (timestamps, errors, result) stays
# deferred — loaded on first access — so the hot path does not decode columns nobody reads.
CLAIMED_FIELDS = [
    "id",
    "mission",
    "position",
    "kind",
    "payload",
    "status",
    "agent",
    "priority",
    "lease_owner",
    "lease_token",
    "attempt_count",
    "max_attempts",
    "dedupe_key",
    "approved_digest",  # the worker refuses a step changed since approval (missions.binding)
    "created_at",
    "run_after",
    "updated_at",  # the claim time: age-bounded recovery reads it (missions.staleness)
]
# In the model's field order: Model.from_db matches a partial row to fields in that order.
STEP_FIELDS = [f for f in Step._meta.concrete_fields if f.name in CLAIMED_FIELDS]
STEP_ATTNAMES = [f.attname for f in STEP_FIELDS]
STEP_COLUMNS = ", ".join(f.column for f in STEP_FIELDS)
# Columns whose database value the field converts (payload's JSON), by position in the row.
CONVERTED = [(i, f) for i, f in enumerate(STEP_FIELDS) if hasattr(f, "from_db_value")]
TIMESTAMPTZ, SAMPLE_TIME = 1184, b"2000-01-01 00:00:00+00"  # its type oid; a value


def _json_converter(field):
    """How a value of the JSON array becomes the field's Python value: JSON has no timestamps
    or UUIDs (they come as strings), and its objects are decoded already."""
    if isinstance(field, models.DateTimeField):
        return datetime.fromisoformat
    if isinstance(field, models.UUIDField):
        return uuid.UUID
    if isinstance(field, models.JSONField) and field.decoder is not None:
        return lambda value: field.from_db_value(json.dumps(value), None, None)
    return None


JSON_CONVERTED = [(i, c) for i, f in enumerate(STEP_FIELDS) if (c := _json_converter(f))]
TIMESTAMPS = [i for i, f in enumerate(STEP_FIELDS) if isinstance(f, models.DateTimeField)]

_claim_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection → cursor


def claim_cursor(db) -> psycopg.Cursor:
    """The claim calls' cursor, one kept per connection (a new one every step cost ~10 µs).
    Its timestamps are read by psycopg's own C loader where that yields what Django's would
    (the same tzinfo: the session's time zone is Django's): Django's loader parses in Python,
    ~6 µs for each of the three timestamps a claim returns. JSON is decoded on arrival (the
    fast path's array)."""
    cursor = _claim_cursors.get(db.connection)
    if cursor is None:
        cursor = psycopg.Cursor(db.connection)
        loader = psycopg.adapters.get_loader(TIMESTAMPTZ, psycopg.pq.Format.TEXT)
        if loader(TIMESTAMPTZ, db.connection).load(SAMPLE_TIME).tzinfo is db.timezone:
            cursor.adapters.register_loader(TIMESTAMPTZ, loader)
        cursor.adapters.register_loader("json", JsonLoader)
        _claim_cursors[db.connection] = cursor
    return cursor


def step_from_row(row, db=connection) -> Step | None:
    """The claimed row as a Step (its first column NULL: nothing was claimed)."""
    if row is None or row[0] is None:
        return None
    values = list(row)
    for index, field in CONVERTED:
        values[index] = field.from_db_value(values[index], None, db)
    return _step(values)


def step_from_array(values, db=connection) -> Step | None:
    """The fast path's JSON array of the claimed columns (NULL: nothing was claimed), each
    value made what Django would have read: timestamps in the connection's time zone."""
    if values is None:
        return None
    for index, convert in JSON_CONVERTED:
        values[index] = convert(values[index])
    for index in TIMESTAMPS:
        if values[index].tzinfo is not db.timezone:
            values[index] = values[index].astimezone(db.timezone)
    return _step(values)


def _step(values: list) -> Step:
    """A Step as `Model.from_db` would build it (the other fields deferred) but without
    `Model.__init__`'s per-field descriptor calls: Step has no init signal receivers (checked
    here, else the ordinary path)."""
    if signals.pre_init.has_listeners(Step) or signals.post_init.has_listeners(Step):
        return Step.from_db("default", STEP_ATTNAMES, values)
    step = Step.__new__(Step)
    step.__dict__.update(zip(STEP_ATTNAMES, values, strict=True))
    step._state = ModelState()
    step._state.adding, step._state.db = False, "default"
    return step
