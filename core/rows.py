"""Model instances from rows of hand-written SQL, converted exactly as the ORM converts them.

For the hot paths whose queries are written once per process as SQL instead of being built by the ORM on every
call (building and compiling a queryset costs about 0.4-0.9 ms of Python, more than PostgreSQL takes to answer
it). A read names the fields it needs; the instance holds those, and the rest are deferred as with `.only()`,
so touching one costs a statement of its own: the statement-count tests of the paths catch that.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence

from django.db import connection, models

_CONVERTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@functools.cache
def selected_fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[models.Field, ...]:
    """The fields `names` of `model`, in the model's order (`Model.from_db` takes the values of a subset of the
    fields in that order)."""
    wanted = {model._meta.get_field(name) for name in names}
    return tuple(f for f in model._meta.concrete_fields if f in wanted)


@functools.cache
def concrete_field_names(model: type[models.Model]) -> tuple[str, ...]:
    """Every field of `model` that has a column: for a read of whole rows."""
    return tuple(f.name for f in model._meta.concrete_fields)


def select_list(alias: str, model: type[models.Model], names: tuple[str, ...]) -> str:
    """The SQL select list of the fields `names` of `model`, whose table is `alias` in the statement."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in selected_fields(model, names))


def instance_from_row(model: type[models.Model], names: tuple[str, ...], values: Sequence) -> models.Model:
    """An instance of `model` from the column values of its fields `names` (in the order of `select_list`),
    converted as the ORM converts them."""
    fields = selected_fields(model, names)
    converted = []
    for field, converters, value in zip(fields, _converters(connection.ops, model, names), values, strict=True):
        for converter in converters:
            value = converter(value, field.cached_col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _converters(ops, model: type[models.Model], names: tuple[str, ...]) -> list[list]:
    """The ORM's converters of each field, for the database connection whose operations are `ops` (each thread
    has its own connection; its converters are looked up once, not on every read: 90 us for a profile)."""
    cached = _CONVERTERS.setdefault(ops, {})
    key = (model, names)
    if key not in cached:
        columns = [field.cached_col for field in selected_fields(model, names)]
        cached[key] = [ops.get_db_converters(c) + c.get_db_converters(ops.connection) for c in columns]
    return cached[key]


def insert_row(instance: models.Model) -> None:
    """INSERT `instance`, whose primary key its creator has set, with every field as `save(force_insert=True)`
    would, by a statement written once per process: the ORM builds and compiles the INSERT anew on every save
    (about 0.2 ms for a recommendation session). No model signals are sent: the models written this way have no
    receivers."""
    model = type(instance)
    fields = model._meta.concrete_fields
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model), values)
    instance._state.adding = False
    instance._state.db = connection.alias


@functools.cache
def _insert_sql(model: type[models.Model]) -> str:
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(f.column) for f in fields)
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
