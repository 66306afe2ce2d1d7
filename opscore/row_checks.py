"""A CHECK constraint whose function is handed the whole row: CHECK (<function>(<table>))."""

from django.db import models
from django.db.models import BooleanField, Func, Value


class WholeRowCheck(models.CheckConstraint):
    """CHECK (<function>(<table>)), the function reading the row's columns itself.

    Postgres reads a table's CHECKs back from their stored trees and prepares them again for
    every statement that writes the table. Handing the function its columns one by one put a
    node for each in that tree (and a cast for some); the whole row is one node, so the
    set-up costs a fraction, and so does the call. Django validates an instance through
    `condition`: the same function, handed a row of the table's type built from the fields it
    reads (the others NULL), so the rule is written once, in the function."""

    def __init__(self, *, function: str, fields, row_type: str, name: str, **kwargs):
        self.function, self.fields, self.row_type = function, tuple(fields), row_type
        kwargs.pop("condition", None)  # deconstructed constraints carry it; it is derived
        pairs = [part for field in self.fields for part in (Value(field), models.F(field))]
        row = Func(
            Func(template=f"NULL::{row_type}"),
            Func(*pairs, function="jsonb_build_object"),
            function="jsonb_populate_record",
        )
        condition = Func(row, function=function, output_field=BooleanField())
        super().__init__(condition=condition, name=name, **kwargs)

    def _get_check_sql(self, model, schema_editor):
        return f"{self.function}({schema_editor.quote_name(model._meta.db_table)})"

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        del kwargs["condition"]
        kwargs.update(function=self.function, fields=list(self.fields), row_type=self.row_type)
        return path, args, kwargs

    def __eq__(self, other):
        if isinstance(other, WholeRowCheck):
            return super().__eq__(other) and (
                (self.function, self.fields, self.row_type)
                == (other.function, other.fields, other.row_type)
            )
        return super().__eq__(other)
