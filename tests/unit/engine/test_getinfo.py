"""GetInfo answers every info type of the IDL (engine/spark/info.py is pure)."""

from __future__ import annotations

import pytest

from kyuubi_py.engine.spark.info import ServerInfo, get_info, keyword_csv
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.protocol.tcli import ttypes

T = ttypes.TGetInfoType
INFO = ServerInfo("Spark SQL", "4.3.0", "alice", lambda: "ADD,ALL,SELECT")


def set_fields(value: ttypes.TGetInfoValue) -> list[str]:
    return [name for name, field in vars(value).items() if field is not None]


@pytest.mark.parametrize("info_type", sorted(T._VALUES_TO_NAMES))
def test_every_info_type_has_exactly_one_value(info_type: int) -> None:
    assert len(set_fields(get_info(info_type, INFO))) == 1


def test_identification() -> None:
    assert get_info(T.CLI_SERVER_NAME, INFO).stringValue == "Spark SQL"
    assert get_info(T.CLI_DBMS_NAME, INFO).stringValue == "Spark SQL"
    assert get_info(T.CLI_DBMS_VER, INFO).stringValue == "4.3.0"
    assert get_info(T.CLI_USER_NAME, INFO).stringValue == "alice"
    assert get_info(T.CLI_ODBC_KEYWORDS, INFO).stringValue == "ADD,ALL,SELECT"
    for info_type in (
        T.CLI_MAX_COLUMN_NAME_LEN,
        T.CLI_MAX_SCHEMA_NAME_LEN,
        T.CLI_MAX_TABLE_NAME_LEN,
    ):
        assert get_info(info_type, INFO).lenValue == 128


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(KyuubiSQLError, match="Unrecognized GetInfoType value: 9999"):
        get_info(9999, INFO)


def test_keyword_csv() -> None:
    assert keyword_csv(["select", "ADD", " all ", "Select", ""]) == "ADD,ALL,SELECT"
