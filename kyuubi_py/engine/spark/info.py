"""GetInfo: an answer for every ``TGetInfoType``.

STS answers only four types and drops the connection on the rest (hs2-protocol.md section 1.1);
ODBC drivers ask many. Values follow the ODBC ``SQLGetInfo`` meaning of each type (0 = "no
limit" for the MAX_* counts), with the name lengths Kyuubi reports (128). Pure: the Spark version
and keyword list are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.protocol.tcli import ttypes

T = ttypes.TGetInfoType
Value = ttypes.TGetInfoValue  # the constructor

#: Default product name: Simba's Spark ODBC driver and Power BI refuse servers named otherwise.
DBMS_NAME = "Spark SQL"
#: Longest identifier Kyuubi advertises (schema, table, column names).
MAX_NAME_LENGTH = 128

# ODBC bit masks and codes (sqlext.h) for the integer answers.
_FD_FETCH_NEXT, _FD_FETCH_FIRST, _FD_FETCH_PRIOR = 0x01, 0x02, 0x10
_CB_PRESERVE = 2
_IC_LOWER = 2  # Spark stores identifiers in lower case and compares them case-insensitively
_SCCO_READ_ONLY = 1
_TC_NONE = 0
_GD_ANY_COLUMN, _GD_ANY_ORDER = 0x01, 0x02
_NC_LOW = 1  # NULLs sort first in ascending order
_AT_ADD_COLUMN = 0x01
_OJ_ALL = 0x7F  # left, right, full, nested, not ordered, inner, all comparison operators
_INSENSITIVE = 1


@dataclass(frozen=True)
class ServerInfo:
    dbms_name: str
    dbms_version: str
    user: str
    #: Comma-separated SQL keywords (ODBC_KEYWORDS); fetched from Spark once.
    keywords: Callable[[], str]


def _text(value: str) -> ttypes.TGetInfoValue:
    return Value(stringValue=value)


def _small(value: int) -> ttypes.TGetInfoValue:
    return Value(smallIntValue=value)


def _bitmask(value: int) -> ttypes.TGetInfoValue:
    return Value(integerBitmask=value)


def _flag(value: int) -> ttypes.TGetInfoValue:
    return Value(integerFlag=value)


def _length(value: int) -> ttypes.TGetInfoValue:
    return Value(lenValue=value)


_STATIC: dict[int, ttypes.TGetInfoValue] = {
    T.CLI_MAX_DRIVER_CONNECTIONS: _small(0),
    T.CLI_MAX_CONCURRENT_ACTIVITIES: _small(0),
    T.CLI_DATA_SOURCE_NAME: _text(""),
    T.CLI_FETCH_DIRECTION: _bitmask(_FD_FETCH_NEXT | _FD_FETCH_FIRST | _FD_FETCH_PRIOR),
    T.CLI_SEARCH_PATTERN_ESCAPE: _text("\\"),
    T.CLI_ACCESSIBLE_TABLES: _text("N"),
    T.CLI_ACCESSIBLE_PROCEDURES: _text("N"),
    T.CLI_CURSOR_COMMIT_BEHAVIOR: _small(_CB_PRESERVE),
    T.CLI_DATA_SOURCE_READ_ONLY: _text("N"),
    T.CLI_DEFAULT_TXN_ISOLATION: _flag(0),
    T.CLI_IDENTIFIER_CASE: _small(_IC_LOWER),
    T.CLI_IDENTIFIER_QUOTE_CHAR: _text("`"),
    T.CLI_MAX_COLUMN_NAME_LEN: _length(MAX_NAME_LENGTH),
    T.CLI_MAX_CURSOR_NAME_LEN: _length(0),
    T.CLI_MAX_SCHEMA_NAME_LEN: _length(MAX_NAME_LENGTH),
    T.CLI_MAX_CATALOG_NAME_LEN: _length(MAX_NAME_LENGTH),
    T.CLI_MAX_TABLE_NAME_LEN: _length(MAX_NAME_LENGTH),
    T.CLI_SCROLL_CONCURRENCY: _bitmask(_SCCO_READ_ONLY),
    T.CLI_TXN_CAPABLE: _small(_TC_NONE),
    T.CLI_TXN_ISOLATION_OPTION: _bitmask(0),
    T.CLI_INTEGRITY: _text("N"),
    T.CLI_GETDATA_EXTENSIONS: _bitmask(_GD_ANY_COLUMN | _GD_ANY_ORDER),
    T.CLI_NULL_COLLATION: _small(_NC_LOW),
    T.CLI_ALTER_TABLE: _bitmask(_AT_ADD_COLUMN),
    T.CLI_ORDER_BY_COLUMNS_IN_SELECT: _text("N"),
    T.CLI_SPECIAL_CHARACTERS: _text(""),
    T.CLI_MAX_COLUMNS_IN_GROUP_BY: _small(0),
    T.CLI_MAX_COLUMNS_IN_INDEX: _small(0),
    T.CLI_MAX_COLUMNS_IN_ORDER_BY: _small(0),
    T.CLI_MAX_COLUMNS_IN_SELECT: _small(0),
    T.CLI_MAX_COLUMNS_IN_TABLE: _small(0),
    T.CLI_MAX_INDEX_SIZE: _length(0),
    T.CLI_MAX_ROW_SIZE: _length(0),
    T.CLI_MAX_STATEMENT_LEN: _length(0),
    T.CLI_MAX_TABLES_IN_SELECT: _small(0),
    T.CLI_MAX_USER_NAME_LEN: _length(MAX_NAME_LENGTH),
    T.CLI_OJ_CAPABILITIES: _bitmask(_OJ_ALL),
    T.CLI_XOPEN_CLI_YEAR: _text("1995"),
    T.CLI_CURSOR_SENSITIVITY: _flag(_INSENSITIVE),
    T.CLI_DESCRIBE_PARAMETER: _text("N"),
    T.CLI_CATALOG_NAME: _text("N"),
    T.CLI_COLLATION_SEQ: _text(""),
    T.CLI_MAX_IDENTIFIER_LEN: _small(MAX_NAME_LENGTH),
}


def get_info(info_type: int, info: ServerInfo) -> ttypes.TGetInfoValue:
    """The answer to ``info_type``; :class:`KyuubiSQLError` for a type no IDL defines."""
    if info_type in (T.CLI_SERVER_NAME, T.CLI_DBMS_NAME):
        return _text(info.dbms_name)
    if info_type == T.CLI_DBMS_VER:
        return _text(info.dbms_version)
    if info_type == T.CLI_USER_NAME:
        return _text(info.user)
    if info_type == T.CLI_ODBC_KEYWORDS:
        return _text(info.keywords())
    value = _STATIC.get(info_type)
    if value is None:
        raise KyuubiSQLError(f"Unrecognized GetInfoType value: {info_type}", "HY096")
    return value


def keyword_csv(keywords: Sequence[str]) -> str:
    """Unique upper-case keywords, sorted, comma-separated (STS's ODBC_KEYWORDS format)."""
    return ",".join(sorted({k.strip().upper() for k in keywords if k.strip()}))
