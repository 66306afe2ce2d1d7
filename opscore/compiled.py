"""Statements a hot path runs on every turn, compiled by the ORM once per process rather than
on every call: building and compiling a query cost more client CPU than running it (a lane's
driver writes an event, a row or two and a move several times a unit of work). The SQL is the
ORM's own, compiled the first time; only the values are bound anew, through each field as the
ORM binds them."""

import functools

from django.db import connections, router, transaction
from django.db.models.expressions import DatabaseDefault


def returned_columns(model, connection) -> tuple[list, str, list]:
    """(attnames, the RETURNING list, each column's converters) of `model`'s every column,
    once per connection alias: the same converters a compiled query applies to a column."""
    return _returned(model, connection.alias, all_columns=True)


@functools.cache
def _returned(model, alias: str, all_columns: bool) -> tuple[list, str, list]:
    connection = connections[alias]
    meta = model._meta
    fields = meta.concrete_fields if all_columns else meta.db_returning_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    converters = []
    for f in fields:
        column = f.get_col(meta.db_table)
        found = connection.ops.get_db_converters(column) + f.get_db_converters(connection)
        converters.append((found, column))
    return [f.attname for f in fields], columns, converters


def converted(row, converters, connection) -> list:
    values = list(row)
    for n, (found, column) in enumerate(converters):
        for convert in found:
            values[n] = convert(values[n], column, connection)
    return values


def from_row(model, row, connection):
    """A `model` instance from a row of its every column (concrete_fields' order), built as
    the ORM builds one: each column through its field's converters, then `from_db`."""
    names, _, converters = _returned(model, connection.alias, all_columns=True)
    return model.from_db(connection.alias, names, converted(row, converters, connection))


def compiled_join(queryset, relation: str) -> tuple[str, tuple, int]:
    """(text, params, where the related row begins) of `queryset`, whose select_related is
    the one forward foreign key `relation`, compiled: for a caller that compiles it once and
    builds each row with joined(). Its columns must be its model's every column, then the
    related model's: anything else (a deferral, an annotation) is refused here, at once."""
    compiler = queryset.query.get_compiler(queryset.db)
    text, params = compiler.as_sql()
    model = queryset.model
    related = model._meta.get_field(relation).related_model
    wanted = [*model._meta.concrete_fields, *related._meta.concrete_fields]
    if [col.target for col, _, _ in compiler.select] != wanted:
        raise ValueError(f"{queryset.query} selects other columns than {model} and {related}")
    return text, params, len(model._meta.concrete_fields)


def joined(row, model, relation: str, start: int, connection):
    """The `model` instance of a compiled_join() row, its `relation` (a forward foreign key)
    cached as select_related caches it (a non-null key: an inner join)."""
    obj = from_row(model, row[:start], connection)
    field = model._meta.get_field(relation)
    field.set_cached_value(obj, from_row(field.related_model, row[start:], connection))
    return obj


def insert_row(obj, using: str | None = None):
    """`obj.save(force_insert=True)` for a new row, by an INSERT compiled once per shape (which
    columns are left to their database default): each value through its field's pre_save and
    get_db_prep_save as the ORM's insert does, the columns the database fills (the key,
    db_default's) read back onto `obj`. No pre_save/post_save signals are sent (Opscore
    connects none). A row given its key, a value that is an expression, a model with parents
    or a proxy, or a field whose placeholder could depend on its value (a range, a geometry)
    goes through save() as ever."""
    model, using = type(obj), using or router.db_for_write(type(obj), instance=obj)
    connection = connections[using]
    obj._prepare_related_fields_for_save(operation_name="save")
    fields = _inserted_fields(model)
    values = [f.pre_save(obj, True) for f in fields]
    shape = tuple(isinstance(v, DatabaseDefault) for v in values)
    text = _insert_text(model, using, shape)
    unusual = obj.pk is not None or text is None  # a key of its own: the ORM's insert
    if unusual or any(hasattr(v, "resolve_expression") for v in values if not _left(v)):
        obj.save(force_insert=True, using=using)
        return obj
    bound = zip(fields, values, strict=True)
    params = [f.get_db_prep_save(v, connection) for f, v in bound if not _left(v)]
    names, _, converters = _returned(model, using, all_columns=False)
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(text, params)
        row = cursor.fetchone()
    for name, value in zip(names, converted(row, converters, connection), strict=True):
        setattr(obj, name, value)
    obj._state.adding, obj._state.db = False, using
    return obj


def _left(value) -> bool:
    """Left to the column's database default (DEFAULT in the statement, no parameter)."""
    return isinstance(value, DatabaseDefault)


@functools.cache
def _inserted_fields(model) -> list:
    meta = model._meta
    return [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]


@functools.cache
def _insert_text(model, using: str, shape: tuple) -> str | None:
    """The ORM's INSERT … RETURNING for a row of this shape, compiled from a row of it
    (DEFAULT where `shape` says, a placeholder elsewhere); None where it cannot be reused."""
    from django.contrib.postgres.fields import ArrayField
    from django.db.models.sql import InsertQuery

    fields, meta = _inserted_fields(model), model._meta
    if meta.parents or meta.proxy:
        return None
    if any(hasattr(f, "get_placeholder") and not isinstance(f, ArrayField) for f in fields):
        return None  # ArrayField's is its type's cast, whatever the value
    prototype = model()
    for field, left in zip(fields, shape, strict=True):
        value = field.get_default() if left else None
        if left != _left(value):
            return None
        setattr(prototype, field.attname, value)
    query = InsertQuery(model)
    query.insert_values(fields, [prototype])
    compiler = query.get_compiler(using)
    compiler.returning_fields = meta.db_returning_fields
    [(text, _)] = compiler.as_sql()
    return text
