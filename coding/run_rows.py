"""A run's own row, written and read by its key in statements the ORM compiles once per
process where it can: a drive moves its run, writes its pass's fields and reads its status
several times a pass, and building and compiling each statement's filter cost more client
CPU than running it. Each row written is read back in the same statement (RETURNING) and
built as the ORM builds one (opscore/compiled.py)."""

import functools

from django.db import connections, models, transaction
from django.db.models.sql import UpdateQuery

from opscore.compiled import from_row, returned_columns


@functools.cache
def row_where(model, using: str, statuses: tuple) -> tuple[str, tuple]:
    """(text, the statuses' parameters): the WHERE of one run in one of `statuses` (any, with
    none) as the ORM compiles it, once per process; the run's key is bound before them."""
    runs = model._default_manager.filter(pk=0, **({"status__in": statuses} if statuses else {}))
    text, params = runs.query.get_compiler(using).compile(runs.query.where)
    if list(params) != [0, *statuses]:  # filter() puts its keywords in order: pk first
        raise ValueError(f"the run's WHERE binds {params}")
    return text, tuple(params[1:])


@functools.cache
def status_read(model, using: str) -> str:
    """`filter(pk=…).values_list("status", flat=True).first()`'s statement, its key bound."""
    first = model._default_manager.using(using).filter(pk=0).values_list("status", flat=True)[:1]
    text, params = first.query.sql_with_params()
    if list(params) != [0]:
        raise ValueError(f"the status read binds {params}")
    return text


class RunRowStatements(models.QuerySet):
    def move_returning(self, pk: int, values: dict, statuses=()) -> list:
        """`update(**values)` of the run `pk` if it is in one of `statuses` (any, with none),
        reading back the row it wrote in the same statement (UPDATE … RETURNING), built as the
        ORM builds one but without a raw queryset's column matching. The run's WHERE is
        compiled once per process (row_where), only the SET anew: a drive's every move is this
        statement, and building and compiling its filter cost more than the rest of it."""
        return self.returning(*self.row_update(pk, values, statuses))

    def write(self, pk: int, **values) -> int:
        """update(**values) of the run `pk`, its WHERE compiled once (row_where); how many rows
        it wrote (one, or none if the run is gone)."""
        text, params = self.row_update(pk, values)
        connection = connections[self.db]
        with transaction.mark_for_rollback_on_error(using=self.db), connection.cursor() as cursor:
            cursor.execute(text, params)
            return cursor.rowcount

    def row_update(self, pk: int, values: dict, statuses=()) -> tuple[str, tuple]:
        query = UpdateQuery(self.model)
        query.add_update_values(values)
        text, params = query.get_compiler(self.db).as_sql()
        where, statuses = row_where(self.model, self.db, tuple(statuses))
        return f"{text} WHERE {where}", (*params, pk, *statuses)

    def status_of(self, pk: int) -> str | None:
        """The run's status as it is now (None if it is gone): read after every pass's tests,
        by a statement compiled once per process."""
        text = status_read(self.model, self.db)
        with connections[self.db].cursor() as cursor:
            cursor.execute(text, (pk,))
            row = cursor.fetchone()
        return row[0] if row else None

    def returning(self, text: str, params) -> list:
        connection = connections[self.db]
        _, columns, _ = returned_columns(self.model, connection)
        with transaction.mark_for_rollback_on_error(using=self.db), connection.cursor() as cursor:
            cursor.execute(f"{text} RETURNING {columns}", params)
            rows = cursor.fetchall()
        return [from_row(self.model, row, connection) for row in rows]
