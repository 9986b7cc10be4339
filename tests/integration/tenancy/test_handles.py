"""Another user's handles, in every RPC of the service, get the same answer as a handle from
nowhere, and leave the owner's session and operation untouched.

Both gateways of the suite: ``gateway`` (an engine per user) and ``shared_gateway`` (SERVER share
level: alice's and bob's sessions live on ONE engine, so only the gateway's owner check stands
between them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.gateway_support import GatewayUnderTest

from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.tcli import V10, ttypes
from kyuubi_py.transport.client import ThriftClientConnection

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(300)]

#: Every method of TCLIService but OpenSession, which takes no handle.
HANDLE_METHODS = sorted(
    name
    for name in dir(ttypes)
    if name.startswith("T") and name.endswith("Req") and name != "TOpenSessionReq"
)
SUCCESS_STATES = (ttypes.TStatusCode.SUCCESS_STATUS, ttypes.TStatusCode.SUCCESS_WITH_INFO_STATUS)


def _filler(spec: tuple[Any, ...]) -> Any:
    """A harmless value for a required field that is not a handle."""
    ttype = spec[1]
    if ttype == 11:  # string
        return "x"
    if ttype in (8, 10, 6, 3):  # i32, i64, i16, byte
        return 0
    if ttype == 2:
        return False
    if ttype == 13:
        return {}
    if ttype == 15:
        return []
    return None


def hostile_request(
    req_name: str, session: ttypes.TSessionHandle, operation: ttypes.TOperationHandle
) -> Any:
    """``req_name`` filled with alice's handles wherever it has one, every other field harmless."""
    cls = getattr(ttypes, req_name)
    req = cls()
    for spec in cls.thrift_spec:
        if spec is None:
            continue
        name = spec[2]
        if name == "sessionHandle":
            setattr(req, name, session)
        elif name == "operationHandle":
            setattr(req, name, operation)
        elif name in ("infoType",):
            setattr(req, name, ttypes.TGetInfoType.CLI_DBMS_NAME)
        elif getattr(req, name) is None:
            setattr(req, name, _filler(spec))
    return req


def method_of(req_name: str) -> str:
    return req_name[1 : -len("Req")]


@pytest.fixture(scope="module", params=["gateway", "shared_gateway"])
def target(request: pytest.FixtureRequest) -> GatewayUnderTest:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture()
def alice(target: GatewayUnderTest) -> Iterator[ThriftClientConnection]:
    with ThriftClientConnection(target.host, target.port, user="alice", password="x") as client:
        yield client


@pytest.fixture()
def bob(target: GatewayUnderTest) -> Iterator[ThriftClientConnection]:
    with ThriftClientConnection(target.host, target.port, user="bob", password="x") as client:
        yield client


def open_session(client: ThriftClientConnection) -> ttypes.TSessionHandle:
    resp = client.call("OpenSession", ttypes.TOpenSessionReq(client_protocol=V10))
    assert resp.status.statusCode == 0, resp.status
    return resp.sessionHandle


def execute(client: ThriftClientConnection, session: Any, sql: str) -> ttypes.TOperationHandle:
    resp = client.call(
        "ExecuteStatement",
        ttypes.TExecuteStatementReq(sessionHandle=session, statement=sql, runAsync=False),
    )
    assert resp.status.statusCode == 0, resp.status
    return resp.operationHandle


def first_value(client: ThriftClientConnection, operation: Any) -> Any:
    resp = client.call(
        "FetchResults",
        ttypes.TFetchResultsReq(operationHandle=operation, orientation=0, maxRows=10),
    )
    assert resp.status.statusCode == 0, resp.status
    column = resp.results.columns[0]
    return next(v for v in vars(column).values() if v is not None).values


@pytest.mark.parametrize("req_name", HANDLE_METHODS)
def test_another_users_handles_are_refused_in_every_rpc(
    req_name: str, alice: ThriftClientConnection, bob: ThriftClientConnection
) -> None:
    session = open_session(alice)
    bob_session = None
    try:
        operation = execute(alice, session, "select 'alice-secret-row'")
        # bob has a session of his own on the same gateway (and, shared, on the same engine)
        bob_session = open_session(bob)
        resp = bob.call(method_of(req_name), hostile_request(req_name, session, operation))
        if req_name == "TGetQueryIdReq":  # no status in this reply: an empty id is the refusal
            assert resp.queryId == ""
            assert first_value(alice, operation) == ["alice-secret-row"]
            return
        status = resp.status
        assert status.statusCode not in SUCCESS_STATES, (req_name, status)
        message = status.errorMessage or ""
        assert "alice-secret-row" not in message
        assert getattr(resp, "results", None) is None
        info = getattr(resp, "infoValue", None)  # required in GetInfo's reply: set, but empty
        assert info is None or not any(vars(info).values())
        # a placeholder handle is fine where the field is required, never alice's
        assert getattr(resp, "operationHandle", None) != operation
        session_id = str(SessionHandle.from_thrift(session))
        operation_id = OperationHandle.from_thrift(operation).public_id
        takes_operation = any(
            spec is not None and spec[2] == "operationHandle" and spec[0] == 1
            for spec in getattr(ttypes, req_name).thrift_spec
        )
        if takes_operation:
            assert message == f"Invalid OperationHandle: {operation_id}", req_name
        elif req_name in (
            "TGetDelegationTokenReq",
            "TCancelDelegationTokenReq",
            "TRenewDelegationTokenReq",
            "TUploadDataReq",
            "TDownloadDataReq",
        ):
            assert status.sqlState == "0A000", (req_name, status)  # not offered to anybody
        else:
            assert message == f"Invalid SessionHandle: {session_id}", req_name
        # alice's operation and session are untouched
        assert first_value(alice, operation) == ["alice-secret-row"]
        again = execute(alice, session, "select current_user()")
        assert first_value(alice, again) == ["alice"]
    finally:
        if bob_session is not None:
            bob.call("CloseSession", ttypes.TCloseSessionReq(sessionHandle=bob_session))
        alice.call("CloseSession", ttypes.TCloseSessionReq(sessionHandle=session))
