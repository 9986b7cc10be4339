"""Metadata operations (GetTables, GetColumns, ...) over the session's Spark catalog.

Result sets have exactly the column names and types Spark Thrift Server sends (hs2-protocol.md
section 1.6), which is what Hive JDBC, DBeaver and impyla read. Name arguments are JDBC patterns
converted like Hive's ``MetadataOperation.convertPattern`` (see :func:`jdbc_pattern`).

Tables come from ``SHOW TABLES`` / ``SHOW VIEWS`` (one catalog call per database, instead of a
JVM round trip per table); temporary views are listed like STS: local ones without a schema,
global ones under ``global_temp``.
"""

from __future__ import annotations

import abc
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import StructField, StructType

from kyuubi_py.engine.spark.metadata_types import (
    CATALOGS_SCHEMA,
    COLUMNS_SCHEMA,
    CROSS_REFERENCE_SCHEMA,
    FUNCTIONS_SCHEMA,
    PRIMARY_KEYS_SCHEMA,
    SCHEMAS_SCHEMA,
    TABLE,
    TABLE_TYPES_SCHEMA,
    TABLES_SCHEMA,
    TYPE_INFO_ROWS,
    TYPE_INFO_SCHEMA,
    VIEW,
    Row,
    column_size,
    decimal_digits,
    declared_type,
    java_type,
    jdbc_pattern,
    matches,
    num_prec_radix,
    rows_to_batch,
    type_sql,
)
from kyuubi_py.engine.spark.operation import SparkOperation
from kyuubi_py.engine.spark.results import ArrowResult
from kyuubi_py.engine.spark.schema import quote_identifier
from kyuubi_py.protocol.tcli import ttypes

if TYPE_CHECKING:
    from kyuubi_py.engine.spark.session import SparkSQLSession

log = logging.getLogger(__name__)

OpType = ttypes.TOperationType


# -- catalog access ----------------------------------------------------------------------------
class Catalog:
    """The session's catalog, read with SQL (cheap) and schemas with ``spark.table``."""

    def __init__(self, session: SparkSQLSession) -> None:
        self._spark = session.spark
        self.global_temp = str(self._spark.conf.get("spark.sql.globalTempDatabase", "global_temp"))

    def _rows(self, sql: str) -> list[Row]:
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def databases(self, regex: re.Pattern[str] | None) -> list[str]:
        names = [str(row[0]) for row in self._rows("SHOW DATABASES")]
        return sorted(n for n in names if matches(regex, n))

    def tables(self, database: str) -> list[tuple[str | None, str, str]]:
        """``(schema, name, type)`` of the tables and views of ``database``."""
        db = quote_identifier(database)
        views = {str(r[1]) for r in self._rows(f"SHOW VIEWS IN {db}") if not r[2]}
        return [
            (database, str(r[1]), VIEW if r[1] in views else TABLE)
            for r in self._rows(f"SHOW TABLES IN {db}")
            if not r[2]
        ]

    def temp_views(self, include_global: bool) -> list[tuple[str | None, str, str]]:
        """Local temp views (no schema) and, when asked, global ones under global_temp."""
        rows = self._rows(f"SHOW VIEWS IN {quote_identifier(self.global_temp)}")
        return [
            (str(r[0]) if r[0] else None, str(r[1]), VIEW)
            for r in rows
            if r[2] and (include_global or not r[0])
        ]

    def table_fields(self, schema: str | None, name: str) -> list[StructField]:
        qualified = quote_identifier(name)
        if schema is not None:
            qualified = f"{quote_identifier(schema)}.{qualified}"
        return list(self._spark.table(qualified).schema.fields)

    def functions(self, database: str) -> list[Any]:
        return list(self._spark.catalog.listFunctions(dbName=database))


# -- operations ----------------------------------------------------------------------------------
class MetadataOperation(SparkOperation):
    """Runs synchronously like Hive's; the result is built whole in memory."""

    SCHEMA: StructType

    def __init__(self, session: SparkSQLSession, operation_type: int, description: str) -> None:
        super().__init__(session, operation_type, statement=description)

    def _execute(self) -> None:
        self.write_log(self.statement)
        with self.spark_scope():
            rows = list(self._rows())
        self.result = ArrowResult(self.encoder(self.SCHEMA), [rows_to_batch(self.SCHEMA, rows)])

    @abc.abstractmethod
    def _rows(self) -> Iterable[Row]: ...


class GetTypeInfo(MetadataOperation):
    SCHEMA = TYPE_INFO_SCHEMA

    def __init__(self, session: SparkSQLSession) -> None:
        super().__init__(session, OpType.GET_TYPE_INFO, "GetTypeInfo")

    def _rows(self) -> Iterable[Row]:
        return TYPE_INFO_ROWS


class GetCatalogs(MetadataOperation):
    """No rows, as STS: Spark's session catalog is reported as the empty catalog ""."""

    SCHEMA = CATALOGS_SCHEMA

    def __init__(self, session: SparkSQLSession) -> None:
        super().__init__(session, OpType.GET_CATALOGS, "GetCatalogs")

    def _rows(self) -> Iterable[Row]:
        return ()


class GetTableTypes(MetadataOperation):
    SCHEMA = TABLE_TYPES_SCHEMA

    def __init__(self, session: SparkSQLSession) -> None:
        super().__init__(session, OpType.GET_TABLE_TYPES, "GetTableTypes")

    def _rows(self) -> Iterable[Row]:
        return ((TABLE,), (VIEW,))


class GetSchemas(MetadataOperation):
    SCHEMA = SCHEMAS_SCHEMA

    def __init__(self, session: SparkSQLSession, schema: str | None) -> None:
        super().__init__(session, OpType.GET_SCHEMAS, f"GetSchemas(schema={schema!r})")
        self._regex = jdbc_pattern(schema)

    def _rows(self) -> Iterable[Row]:
        catalog = Catalog(self.spark_session)
        names = catalog.databases(self._regex)
        if matches(self._regex, catalog.global_temp):
            names.append(catalog.global_temp)
        return [(name, "") for name in names]


class GetTables(MetadataOperation):
    SCHEMA = TABLES_SCHEMA

    def __init__(
        self,
        session: SparkSQLSession,
        schema: str | None,
        table: str | None,
        table_types: Sequence[str] | None,
    ) -> None:
        super().__init__(
            session,
            OpType.GET_TABLES,
            f"GetTables(schema={schema!r}, table={table!r}, types={table_types})",
        )
        self._schema = jdbc_pattern(schema)
        self._table = jdbc_pattern(table, empty_is_all=False)
        self._types = {t.upper() for t in table_types} if table_types else None

    def _rows(self) -> Iterable[Row]:
        found = [
            t
            for t in list_tables(Catalog(self.spark_session), self._schema)
            if matches(self._table, t[1]) and (self._types is None or t[2] in self._types)
        ]
        found.sort(key=lambda t: (t[2], t[0] or "", t[1]))
        return [
            ("", schema, name, kind, "", None, None, None, None, None)
            for schema, name, kind in found
        ]


def list_tables(
    catalog: Catalog, schema_regex: re.Pattern[str] | None
) -> list[tuple[str | None, str, str]]:
    """Tables and views of the matching databases, then the temporary views (STS order)."""
    found: list[tuple[str | None, str, str]] = []
    for database in catalog.databases(schema_regex):
        try:
            found.extend(catalog.tables(database))
        except Exception as exc:  # noqa: BLE001 - one unreadable database must not hide the rest
            log.warning("Listing tables of %s failed: %s", database, str(exc).split("\n")[0])
    found.extend(catalog.temp_views(matches(schema_regex, catalog.global_temp)))
    return found


class GetColumns(MetadataOperation):
    SCHEMA = COLUMNS_SCHEMA

    def __init__(
        self, session: SparkSQLSession, schema: str | None, table: str | None, column: str | None
    ) -> None:
        super().__init__(
            session,
            OpType.GET_COLUMNS,
            f"GetColumns(schema={schema!r}, table={table!r}, column={column!r})",
        )
        self._schema = jdbc_pattern(schema)
        self._table = jdbc_pattern(table, empty_is_all=False)
        self._column = jdbc_pattern(column)

    def _rows(self) -> Iterable[Row]:
        catalog = Catalog(self.spark_session)
        rows: list[Row] = []
        for schema, name, _kind in list_tables(catalog, self._schema):
            if matches(self._table, name):
                rows.extend(self._table_rows(catalog, schema, name))
        return rows

    def _table_rows(self, catalog: Catalog, schema: str | None, name: str) -> list[Row]:
        try:
            fields = catalog.table_fields(schema, name)
        except Exception as exc:  # noqa: BLE001 - e.g. a view over a dropped table: skip it
            log.warning(
                "Reading columns of %s.%s failed: %s", schema, name, str(exc).split("\n")[0]
            )
            return []
        return [
            column_row(schema, name, field, position)
            for position, field in enumerate(fields, start=1)
            if matches(self._column, field.name)
        ]


def column_row(schema: str | None, table: str, field: StructField, position: int) -> Row:
    dt = declared_type(field)
    comment = (field.metadata or {}).get("comment")
    return (
        "",
        schema,
        table,
        field.name,
        java_type(dt),
        type_sql(dt),
        column_size(dt),
        None,
        decimal_digits(dt),
        num_prec_radix(dt),
        1 if field.nullable else 0,
        comment if isinstance(comment, str) else "",
        None,
        None,
        None,
        None,
        position,
        "YES" if field.nullable else "NO",
        None,
        None,
        None,
        None,
        "NO",
    )


class GetFunctions(MetadataOperation):
    SCHEMA = FUNCTIONS_SCHEMA

    def __init__(self, session: SparkSQLSession, schema: str | None, function: str) -> None:
        super().__init__(
            session, OpType.GET_FUNCTIONS, f"GetFunctions(schema={schema!r}, function={function!r})"
        )
        self._schema = jdbc_pattern(schema)
        self._function = jdbc_pattern(function)

    def _rows(self) -> Iterable[Row]:
        catalog = Catalog(self.spark_session)
        rows: list[Row] = []
        for database in catalog.databases(self._schema):
            for function in catalog.functions(database):
                if matches(self._function, function.name):
                    rows.append(
                        (
                            "",
                            database,
                            function.name,
                            function.description or "",
                            0,
                            function.className,
                        )
                    )  # 0: functionResultUnknown
        return rows


class GetPrimaryKeys(MetadataOperation):
    """Spark tables have no primary keys: an empty result (STS answers SUCCESS too)."""

    SCHEMA = PRIMARY_KEYS_SCHEMA

    def __init__(self, session: SparkSQLSession) -> None:
        super().__init__(session, OpType.GET_FUNCTIONS, "GetPrimaryKeys")  # as Hive

    def _rows(self) -> Iterable[Row]:
        return ()


class GetCrossReference(MetadataOperation):
    """Spark tables have no foreign keys: an empty result."""

    SCHEMA = CROSS_REFERENCE_SCHEMA

    def __init__(self, session: SparkSQLSession) -> None:
        super().__init__(session, OpType.GET_FUNCTIONS, "GetCrossReference")

    def _rows(self) -> Iterable[Row]:
        return ()
