"""Policies: live configuration, validated per key, every change a version row."""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models
from django.db.models.functions import Now

from opscore.policies import SCHEMAS, PolicyError, PolicyValue, parse_policy
from opscore.policy_names import unknown_names

_snapshot: ContextVar[dict | None] = ContextVar("policy_snapshot", default=None)


@contextmanager
def policy_snapshot():
    """Within one pass (a heartbeat duty, one transaction) each policy is read once, not once
    per use: two hundred proposals through the intake read auto_approve once. A change made
    elsewhere is seen from the next pass. A write through set_policy inside the pass ends the
    snapshot (a savepoint rolled back could otherwise leave a value the database no longer
    holds); the rest of the pass reads live."""
    token = _snapshot.set({})
    try:
        yield
    finally:
        _snapshot.reset(token)


def end_policy_snapshot() -> None:
    if _snapshot.get() is not None:
        _snapshot.set(None)


def _remembered(key, read):
    cache = _snapshot.get()
    if cache is None:
        return read()
    if key not in cache:
        cache[key] = read()
    return cache[key]


class PolicyQuerySet(models.QuerySet):
    def value(self, key: str) -> PolicyValue:
        """The typed value in force; a key never seeded reads as its schema default. Values
        are frozen, so a snapshot may hand the same one to every reader."""
        return _remembered(("value", key), lambda: self._read_value(key))

    def _read_value(self, key: str) -> PolicyValue:
        row = self.filter(key=key).only("value").first()
        return parse_policy(key, row.value) if row else SCHEMAS[key]()

    def reading(self, key: str) -> tuple[str, tuple]:
        """(SQL, params) of the value `key` has on file, for a caller that reads it as part of
        a statement of its own (one round trip for several reads); parsed() takes the result."""
        return self.filter(key=key).values("value").query.sql_with_params()

    def parsed(self, key: str, stored) -> PolicyValue:
        """What reading()'s SQL returned (None: nothing on file) as value() gives it; within
        a snapshot, the snapshot's value."""
        if isinstance(stored, str):  # jsonb as the driver hands it over, undecoded
            stored = self.model._meta.get_field("value").from_db_value(stored, None, None)
        value = parse_policy(key, stored) if stored is not None else SCHEMAS[key]()
        return _remembered(("value", key), lambda: value)

    def versions_in_force(self, keys) -> dict[str, int]:
        keys = frozenset(keys)

        def read():
            return dict(self.filter(key__in=keys).values_list("key", "version"))

        return dict(_remembered(("versions", keys), read))

    def unknown_names(self) -> dict[str, dict[str, list[str]]]:
        """{key: {field: [name]}}: the stored names (step kinds, lanes) no loaded code knows.
        They are kept and ignored; status, health and `manage.py check` show them."""
        found = {}
        for row in self.filter(key__in=SCHEMAS).only("key", "value"):
            try:
                names = unknown_names(row.typed())
            except PolicyError:
                continue  # a value the schema refuses outright is not this report's business
            if names:
                found[row.key] = names
        return found


class Policy(models.Model):
    """Live configuration as JSON, validated per key. Changed only through `set_policy`."""

    key = models.CharField(primary_key=True, max_length=64)
    value = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(db_default=Now())
    updated_by = models.CharField(max_length=150, blank=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["key"]

    def __str__(self):
        return self.key

    def typed(self) -> PolicyValue:
        return parse_policy(self.key, self.value)


class PolicyVersion(models.Model):
    """One row per change of a policy: who, when, old and new value. Never edited."""

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField()
    changed_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["policy_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique"),
        ]

    def __str__(self):
        return f"{self.policy_id} v{self.version}"
