"""Metadata operations: exact result columns (hs2-protocol.md 1.6) and pattern semantics."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hs2 import Client, T, ok

pytestmark = [pytest.mark.spark, pytest.mark.timeout(180)]
Ty = T.TTypeId


@pytest.fixture(scope="module")
def catalog(engine: Any) -> Any:
    """A database with a table and a view, plus a temporary view, in one session."""
    database = f"meta_{uuid.uuid4().hex[:8]}"
    client = Client(engine.host, engine.port)
    for statement in (
        f"CREATE DATABASE {database}",
        f"CREATE TABLE {database}.events (id BIGINT COMMENT 'the id', name STRING, "
        "price DECIMAL(10,2), tags ARRAY<STRING>, at TIMESTAMP) USING parquet",
        f"CREATE VIEW {database}.event_names AS SELECT name FROM {database}.events",
        "CREATE TEMPORARY VIEW meta_temp AS SELECT 1 AS one",
    ):
        ok(client.execute(statement))
    yield client, database
    ok(client.execute(f"DROP DATABASE {database} CASCADE"))
    client.close()


def run(client: Client, method: str, **fields: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    request = getattr(T, f"T{method}Req")(sessionHandle=client.session, **fields)
    op = ok(client.call(method, request)).operationHandle
    names = [name for name, _ in client.schema(op)]
    return names, client.fetch_all(op)


def test_get_schemas(catalog: Any) -> None:
    client, database = catalog
    names, rows = run(client, "GetSchemas", schemaName="%")
    assert names == ["TABLE_SCHEM", "TABLE_CATALOG"]
    assert (database, "") in rows and ("default", "") in rows and ("global_temp", "") in rows
    _, rows = run(client, "GetSchemas", schemaName=database[:6] + "_%")
    assert [r[0] for r in rows] == [database]
    _, impyla_style = run(client, "GetSchemas", schemaName=".*")
    assert (database, "") in impyla_style


def test_get_tables(catalog: Any) -> None:
    client, database = catalog
    names, rows = run(client, "GetTables", schemaName=database, tableName="%")
    assert names == [
        "TABLE_CAT",
        "TABLE_SCHEM",
        "TABLE_NAME",
        "TABLE_TYPE",
        "REMARKS",
        "TYPE_CAT",
        "TYPE_SCHEM",
        "TYPE_NAME",
        "SELF_REFERENCING_COL_NAME",
        "REF_GENERATION",
    ]
    found = {(r[1], r[2], r[3]) for r in rows}
    assert (database, "events", "TABLE") in found
    assert (database, "event_names", "VIEW") in found
    assert (None, "meta_temp", "VIEW") in found
    _, tables_only = run(
        client, "GetTables", schemaName=database, tableName="%", tableTypes=["TABLE"]
    )
    assert {r[2] for r in tables_only} == {"events"}
    _, one = run(client, "GetTables", schemaName=database, tableName="event\\_names")
    assert [r[2] for r in one if r[1] == database] == ["event_names"]
    _, none = run(client, "GetTables", schemaName=database, tableName="")
    assert none == []


def test_get_columns(catalog: Any) -> None:
    client, database = catalog
    request = T.TGetColumnsReq(
        sessionHandle=client.session, schemaName=database, tableName="events", columnName="%"
    )
    op = ok(client.call("GetColumns", request)).operationHandle
    schema = client.schema(op)
    assert [n for n, _ in schema] == [
        "TABLE_CAT",
        "TABLE_SCHEM",
        "TABLE_NAME",
        "COLUMN_NAME",
        "DATA_TYPE",
        "TYPE_NAME",
        "COLUMN_SIZE",
        "BUFFER_LENGTH",
        "DECIMAL_DIGITS",
        "NUM_PREC_RADIX",
        "NULLABLE",
        "REMARKS",
        "COLUMN_DEF",
        "SQL_DATA_TYPE",
        "SQL_DATETIME_SUB",
        "CHAR_OCTET_LENGTH",
        "ORDINAL_POSITION",
        "IS_NULLABLE",
        "SCOPE_CATALOG",
        "SCOPE_SCHEMA",
        "SCOPE_TABLE",
        "SOURCE_DATA_TYPE",
        "IS_AUTO_INCREMENT",
    ]
    assert dict(schema)["DATA_TYPE"] == Ty.INT_TYPE
    assert dict(schema)["BUFFER_LENGTH"] == Ty.TINYINT_TYPE
    assert dict(schema)["SOURCE_DATA_TYPE"] == Ty.SMALLINT_TYPE
    rows = client.fetch_all(op)
    by_name = {r[3]: r for r in rows}
    assert list(by_name) == ["id", "name", "price", "tags", "at"]
    assert by_name["id"][4:7] == (-5, "BIGINT", 8) and by_name["id"][11] == "the id"
    assert by_name["name"][4:6] == (12, "STRING")
    assert by_name["price"][4:10] == (3, "DECIMAL(10,2)", 8, None, 2, 10)
    assert by_name["tags"][4:6] == (2003, "ARRAY<STRING>")
    assert by_name["at"][4:6] == (93, "TIMESTAMP")
    assert [r[16] for r in rows] == [1, 2, 3, 4, 5]
    assert by_name["id"][17] == "YES" and by_name["id"][22] == "NO"
    _, impyla_style = run(
        client, "GetColumns", schemaName=database, tableName="events", columnName=".*"
    )
    assert len(impyla_style) == 5
    _, temp = run(client, "GetColumns", tableName="meta_temp")
    assert [(r[1], r[2], r[3]) for r in temp] == [(None, "meta_temp", "one")]


def test_get_type_info_catalogs_and_table_types(catalog: Any) -> None:
    client, _ = catalog
    names, rows = run(client, "GetTypeInfo")
    assert names[:3] == ["TYPE_NAME", "DATA_TYPE", "PRECISION"] and len(names) == 18
    assert ("INT", 4, 10) in [r[:3] for r in rows]
    names, rows = run(client, "GetCatalogs")
    assert names == ["TABLE_CAT"] and rows == []
    names, rows = run(client, "GetTableTypes")
    assert names == ["TABLE_TYPE"] and rows == [("TABLE",), ("VIEW",)]


def test_get_functions_keys_and_cross_reference(catalog: Any) -> None:
    client, _ = catalog
    names, rows = run(client, "GetFunctions", schemaName="default", functionName="upp%")
    assert names == [
        "FUNCTION_CAT",
        "FUNCTION_SCHEM",
        "FUNCTION_NAME",
        "REMARKS",
        "FUNCTION_TYPE",
        "SPECIFIC_NAME",
    ]
    assert [r[2] for r in rows] == ["upper"]
    assert rows[0][5].endswith("Upper") and rows[0][4] == 0
    names, rows = run(client, "GetPrimaryKeys", schemaName="default", tableName="x")
    assert (
        names == ["TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "KEQ_SEQ", "PK_NAME"]
        and rows == []
    )
    names, rows = run(client, "GetCrossReference", parentTableName="a", foreignTableName="b")
    assert len(names) == 14 and rows == []
