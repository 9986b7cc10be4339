"""Checks on the generated TCLIService bindings (idl/TCLIService.thrift).

Field ids, types, defaults and enum values are wire contracts with Hive JDBC,
pyhive, impyla and ODBC drivers; these tests pin the important ones and make
sure the generated code works with the thrift runtime's C extension.
"""

from __future__ import annotations

import pytest
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TType
from thrift.transport import TTransport

from kyuubi_py.protocol._gen.TCLIService import TCLIService, constants, ttypes


def _roundtrip(obj, *, accelerated: bool):
    """Serialize ``obj`` and read it back into a fresh instance of its class."""
    wbuf = TTransport.TMemoryBuffer()
    if accelerated:
        oprot = TBinaryProtocol.TBinaryProtocolAccelerated(wbuf, fallback=False)
    else:
        oprot = TBinaryProtocol.TBinaryProtocol(wbuf)
    obj.write(oprot)
    data = wbuf.getvalue()

    rbuf = TTransport.TMemoryBuffer(data)
    if accelerated:
        iprot = TBinaryProtocol.TBinaryProtocolAccelerated(rbuf, fallback=False)
    else:
        iprot = TBinaryProtocol.TBinaryProtocol(rbuf)
    out = type(obj)()
    out.read(iprot)
    return out, data


def _handle(seed: int) -> ttypes.THandleIdentifier:
    # Non-UTF-8 bytes on purpose: handles are opaque binary.
    return ttypes.THandleIdentifier(guid=bytes([seed, 0xFF] * 8), secret=bytes([0x80 + seed] * 16))


def _open_session_req() -> ttypes.TOpenSessionReq:
    return ttypes.TOpenSessionReq(
        client_protocol=ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V11,
        username="alice",
        password="s3cr\u00e9t",
        configuration={"use:database": "default", "set:hiveconf:a.b": "1"},
    )


def _row_set() -> ttypes.TRowSet:
    return ttypes.TRowSet(
        startRowOffset=1000,
        rows=[],
        columns=[
            ttypes.TColumn(boolVal=ttypes.TBoolColumn(values=[True, False, True], nulls=b"\x02")),
            ttypes.TColumn(byteVal=ttypes.TByteColumn(values=[-128, 0, 127], nulls=b"")),
            ttypes.TColumn(i16Val=ttypes.TI16Column(values=[-32768, 0, 32767], nulls=b"\x00")),
            ttypes.TColumn(i32Val=ttypes.TI32Column(values=[-(2**31), 0, 2**31 - 1], nulls=b"")),
            ttypes.TColumn(i64Val=ttypes.TI64Column(values=[-(2**63), 0, 2**63 - 1], nulls=b"")),
            ttypes.TColumn(doubleVal=ttypes.TDoubleColumn(values=[1.5, -0.0, 1e300], nulls=b"")),
            ttypes.TColumn(
                stringVal=ttypes.TStringColumn(values=["a", "", "\u00fc\u4e2d"], nulls=b"\x02")
            ),
            ttypes.TColumn(
                binaryVal=ttypes.TBinaryColumn(values=[b"\x00\xff", b"", b"\x80"], nulls=b"\x04")
            ),
        ],
    )


def _get_info_resp() -> ttypes.TGetInfoResp:
    return ttypes.TGetInfoResp(
        status=ttypes.TStatus(statusCode=ttypes.TStatusCode.SUCCESS_STATUS),
        infoValue=ttypes.TGetInfoValue(stringValue="Spark SQL"),
    )


# --------------------------------------------------------------------------- imports


def test_imports_and_service_methods():
    assert hasattr(TCLIService, "Client")
    assert hasattr(TCLIService, "Processor")
    assert hasattr(TCLIService, "Iface")
    expected = {
        "OpenSession",
        "CloseSession",
        "GetInfo",
        "ExecuteStatement",
        "GetTypeInfo",
        "GetCatalogs",
        "GetSchemas",
        "GetTables",
        "GetTableTypes",
        "GetColumns",
        "GetFunctions",
        "GetPrimaryKeys",
        "GetCrossReference",
        "GetOperationStatus",
        "CancelOperation",
        "CloseOperation",
        "GetResultSetMetadata",
        "FetchResults",
        "GetDelegationToken",
        "CancelDelegationToken",
        "RenewDelegationToken",
        "GetQueryId",
        "SetClientInfo",
        "UploadData",
        "DownloadData",
    }
    processor = TCLIService.Processor(TCLIService.Iface())
    assert set(processor._processMap) == expected
    # GetLog / CloseImpalaOperation must stay unknown methods.
    assert "GetLog" not in processor._processMap
    assert not hasattr(TCLIService.Iface, "GetLog")
    assert not hasattr(ttypes, "TGetLogReq")


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "accelerated",
    [
        pytest.param(True, id="fastbinary"),
        pytest.param(False, id="pure"),
    ],
)
@pytest.mark.parametrize("factory", [_open_session_req, _row_set, _get_info_resp])
def test_roundtrip(factory, accelerated):
    obj = factory()
    out, _ = _roundtrip(obj, accelerated=accelerated)
    assert out == obj


def test_fastbinary_and_pure_encodings_match():
    for factory in (_open_session_req, _row_set, _get_info_resp):
        _, fast = _roundtrip(factory(), accelerated=True)
        _, pure = _roundtrip(factory(), accelerated=False)
        assert fast == pure


def test_roundtrip_nested_structures_fastbinary():
    # Nested containers (list<list<string>>, map<string, union>) exercise the
    # spec layout that older generators got wrong for the C extension.
    resp = ttypes.TGetOperationStatusResp(
        status=ttypes.TStatus(
            statusCode=ttypes.TStatusCode.ERROR_STATUS,
            infoMessages=["*java.lang.Exception:boom:0:0"],
            sqlState="42000",
            errorCode=10001,
            errorMessage="boom",
        ),
        operationState=ttypes.TOperationState.ERROR_STATE,
        progressUpdateResponse=ttypes.TProgressUpdateResp(
            headerNames=["STAGE", "STATUS"],
            rows=[["Stage-1", "RUNNING"], ["Stage-2", "PENDING"]],
            progressedPercentage=0.5,
            status=ttypes.TJobExecutionStatus.IN_PROGRESS,
            footerSummary="1/2",
            startTime=1700000000000,
        ),
        numModifiedRows=42,
    )
    out, _ = _roundtrip(resp, accelerated=True)
    assert out == resp

    schema = ttypes.TGetResultSetMetadataResp(
        status=ttypes.TStatus(statusCode=ttypes.TStatusCode.SUCCESS_STATUS),
        schema=ttypes.TTableSchema(
            columns=[
                ttypes.TColumnDesc(
                    columnName="d",
                    typeDesc=ttypes.TTypeDesc(
                        types=[
                            ttypes.TTypeEntry(
                                primitiveEntry=ttypes.TPrimitiveTypeEntry(
                                    type=ttypes.TTypeId.DECIMAL_TYPE,
                                    typeQualifiers=ttypes.TTypeQualifiers(
                                        qualifiers={
                                            constants.PRECISION: ttypes.TTypeQualifierValue(
                                                i32Value=10
                                            ),
                                            constants.SCALE: ttypes.TTypeQualifierValue(i32Value=2),
                                        }
                                    ),
                                )
                            )
                        ]
                    ),
                    position=0,
                    comment="",
                )
            ]
        ),
    )
    out, _ = _roundtrip(schema, accelerated=True)
    assert out == schema

    handle = ttypes.TOperationHandle(
        operationId=_handle(7),
        operationType=ttypes.TOperationType.EXECUTE_STATEMENT,
        hasResultSet=True,
        modifiedRowCount=3.0,
    )
    out, _ = _roundtrip(
        ttypes.TFetchResultsReq(operationHandle=handle, maxRows=1000), accelerated=True
    )
    assert out.operationHandle == handle
    assert out.orientation == ttypes.TFetchOrientation.FETCH_NEXT
    assert out.fetchType == 0


# --------------------------------------------------------------------------- ids / values


def _field(cls, fid):
    spec = cls.thrift_spec[fid]
    assert spec is not None, f"{cls.__name__} has no field {fid}"
    return spec  # (id, ttype, name, type_args, default)


@pytest.mark.parametrize(
    "cls, fid, ttype, name, default",
    [
        (ttypes.TFetchResultsReq, 1, TType.STRUCT, "operationHandle", None),
        (ttypes.TFetchResultsReq, 2, TType.I32, "orientation", 0),
        (ttypes.TFetchResultsReq, 3, TType.I64, "maxRows", None),
        (ttypes.TFetchResultsReq, 4, TType.I16, "fetchType", 0),
        (ttypes.TFetchResultsResp, 2, TType.BOOL, "hasMoreRows", None),
        (ttypes.TFetchResultsResp, 3, TType.STRUCT, "results", None),
        (ttypes.TGetOperationStatusReq, 2, TType.BOOL, "getProgressUpdate", None),
        (ttypes.TGetOperationStatusResp, 10, TType.STRUCT, "progressUpdateResponse", None),
        (ttypes.TGetOperationStatusResp, 11, TType.I64, "numModifiedRows", None),
        (ttypes.TOpenSessionReq, 1, TType.I32, "client_protocol", 9),
        (ttypes.TOpenSessionReq, 4, TType.MAP, "configuration", None),
        (ttypes.TOpenSessionResp, 2, TType.I32, "serverProtocolVersion", 9),
        (ttypes.TOpenSessionResp, 3, TType.STRUCT, "sessionHandle", None),
        (ttypes.TExecuteStatementReq, 4, TType.BOOL, "runAsync", False),
        (ttypes.TExecuteStatementReq, 5, TType.I64, "queryTimeout", 0),
        (ttypes.TOperationHandle, 3, TType.BOOL, "hasResultSet", None),
        (ttypes.TOperationHandle, 4, TType.DOUBLE, "modifiedRowCount", None),
        (ttypes.TRowSet, 1, TType.I64, "startRowOffset", None),
        (ttypes.TRowSet, 2, TType.LIST, "rows", None),
        (ttypes.TRowSet, 3, TType.LIST, "columns", None),
        (ttypes.TRowSet, 4, TType.STRING, "binaryColumns", None),
        (ttypes.TRowSet, 5, TType.I32, "columnCount", None),
        (ttypes.TGetInfoResp, 2, TType.STRUCT, "infoValue", None),
        (ttypes.TGetInfoValue, 6, TType.I64, "lenValue", None),
        (ttypes.TColumn, 8, TType.STRUCT, "binaryVal", None),
        (ttypes.TColumnValue, 7, TType.STRUCT, "stringVal", None),
        (ttypes.TByteColumn, 1, TType.LIST, "values", None),
        (ttypes.TColumnDesc, 3, TType.I32, "position", None),
        (ttypes.TGetQueryIdResp, 1, TType.STRING, "queryId", None),
        (ttypes.TGetFunctionsReq, 4, TType.STRING, "functionName", None),
        (ttypes.TGetCrossReferenceReq, 7, TType.STRING, "foreignTableName", None),
        (ttypes.TSetClientInfoReq, 2, TType.MAP, "configuration", None),
        (ttypes.TUploadDataReq, 4, TType.STRING, "values", None),
        (ttypes.TDownloadDataReq, 5, TType.MAP, "downloadOptions", None),
        (ttypes.TProgressUpdateResp, 6, TType.I64, "startTime", None),
    ],
)
def test_field_ids(cls, fid, ttype, name, default):
    spec = _field(cls, fid)
    assert spec[0] == fid
    assert spec[1] == ttype
    assert spec[2] == name
    assert spec[4] == default


def test_byte_column_is_i8_list():
    assert _field(ttypes.TByteColumn, 1)[3][0] == TType.BYTE
    assert _field(ttypes.TBinaryColumn, 1)[3][0] == TType.STRING
    assert _field(ttypes.TBinaryColumn, 1)[3][1] == "BINARY"


def test_enum_values():
    pv = ttypes.TProtocolVersion
    for n in range(1, 12):
        assert getattr(pv, f"HIVE_CLI_SERVICE_PROTOCOL_V{n}") == n - 1
    assert pv.HIVE_CLI_SERVICE_PROTOCOL_V11 == 10

    t = ttypes.TTypeId
    assert t.BOOLEAN_TYPE == 0
    assert t.USER_DEFINED_TYPE == 14
    assert t.DECIMAL_TYPE == 15
    assert t.INTERVAL_DAY_TIME_TYPE == 21
    assert t.TIMESTAMPLOCALTZ_TYPE == 22
    assert len(t._VALUES_TO_NAMES) == 23

    s = ttypes.TOperationState
    assert (s.INITIALIZED_STATE, s.FINISHED_STATE, s.ERROR_STATE) == (0, 2, 5)
    assert (s.UKNOWN_STATE, s.PENDING_STATE, s.TIMEDOUT_STATE) == (6, 7, 8)

    assert ttypes.TStatusCode.INVALID_HANDLE_STATUS == 4
    assert ttypes.TOperationType.GET_FUNCTIONS == 7
    assert ttypes.TOperationType.UNKNOWN == 8
    assert ttypes.TFetchOrientation.FETCH_FIRST == 4
    assert ttypes.TFetchOrientation.FETCH_LAST == 5
    assert ttypes.TJobExecutionStatus.NOT_AVAILABLE == 2

    gi = ttypes.TGetInfoType
    assert gi.CLI_SERVER_NAME == 13
    assert gi.CLI_DBMS_NAME == 17
    assert gi.CLI_DBMS_VER == 18
    assert gi.CLI_MAX_TABLE_NAME_LEN == 35
    assert gi.CLI_OJ_CAPABILITIES == 115
    assert gi.CLI_XOPEN_CLI_YEAR == 10000
    assert gi.CLI_ODBC_KEYWORDS == 10006
    assert len(gi._VALUES_TO_NAMES) == 48


def test_constants():
    t = ttypes.TTypeId
    assert constants.TYPE_NAMES[t.TIMESTAMPLOCALTZ_TYPE] == "TIMESTAMP WITH LOCAL TIME ZONE"
    assert constants.TYPE_NAMES[t.UNION_TYPE] == "UNIONTYPE"
    assert t.USER_DEFINED_TYPE not in constants.TYPE_NAMES
    assert len(constants.TYPE_NAMES) == 22
    assert len(constants.PRIMITIVE_TYPES) == 18
    assert t.TIMESTAMPLOCALTZ_TYPE in constants.PRIMITIVE_TYPES
    assert set(constants.COMPLEX_TYPES) == {
        t.ARRAY_TYPE,
        t.MAP_TYPE,
        t.STRUCT_TYPE,
        t.UNION_TYPE,
        t.USER_DEFINED_TYPE,
    }
    assert set(constants.COLLECTION_TYPES) == {t.ARRAY_TYPE, t.MAP_TYPE}
    assert constants.CHARACTER_MAXIMUM_LENGTH == "characterMaximumLength"
    assert constants.PRECISION == "precision"
    assert constants.SCALE == "scale"
