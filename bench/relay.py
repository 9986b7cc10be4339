"""A plain TCP byte relay: the floor for any gateway (performance.md sections 6 and 7).

Blocking sockets, two threads per connection, ``recv_into`` a reused buffer and ``sendall`` of a
view of it: on this machine that measured faster than asyncio or ``os.splice`` (0.94 GB/s).
It understands nothing of HS2: it forwards SASL, Thrift frames and replies byte for byte.

``--framed`` relays frame by frame with the project's own primitives instead (the buffered
``open_reader`` that ``ThriftClientConnection.call_raw`` reads replies with, and ``send_frame``
that the frontend writes replies with): M2 measures the gateway's byte path with it.

Also a byte sink for M2 (``--sink``): it swallows ``--expect`` bytes per connection and answers
one byte, so the sender can time the whole transfer end to end.

Run as ``python -m bench.relay --port 0 --target 127.0.0.1:10010``; it prints
``bench relay listening on 127.0.0.1:<port>`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Callable

BUFFER_BYTES = 1 << 20


def _tune(sock: socket.socket) -> None:
    # Small RPCs must not wait for Nagle; both hops get the same treatment as real clients.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes until EOF, then half-close the other side so it sees the EOF too."""
    buffer = bytearray(BUFFER_BYTES)
    view = memoryview(buffer)
    try:
        while True:
            received = source.recv_into(buffer)
            if not received:
                break
            sink.sendall(view[:received])
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        source.close()


def pump_frames(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``u32 length + payload`` frames as the gateway relays a FetchResults reply: read one
    whole frame into a fresh ``bytes`` object, send it with ``send_frame`` (one ``sendmsg``)."""
    from kyuubi_py.transport.server import open_reader, send_frame

    reader = open_reader(source)
    try:
        while True:
            header = reader.read(4)
            if len(header) < 4:
                break
            payload = reader.read(int.from_bytes(header, "big"))
            send_frame(sink, [payload])
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _relay_connection(client: socket.socket, target: tuple[str, int], framed: bool = False) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10.0)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    _tune(client)
    _tune(upstream)
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    (pump_frames if framed else pump)(client, upstream)
    back.join()
    upstream.close()
    client.close()


def _sink_connection(client: socket.socket, expect: int) -> None:
    buffer = bytearray(BUFFER_BYTES)
    remaining = expect
    with client:
        _tune(client)
        while remaining > 0:
            received = client.recv_into(buffer, min(len(buffer), remaining))
            if not received:
                return
            remaining -= received
        client.sendall(b"!")


def listen(host: str, port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(512)
    return server


def serve(server: socket.socket, handle: Callable[..., None], *args: object) -> None:
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, *args), daemon=True).start()


def parse_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--target", help="host:port to relay to")
    mode.add_argument("--sink", action="store_true", help="swallow bytes instead (M2)")
    parser.add_argument("--expect", type=int, default=0, help="bytes per sink connection")
    parser.add_argument("--framed", action="store_true", help="relay u32-framed messages")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = listen(args.host, args.port)
    host, port = server.getsockname()[:2]
    print(f"bench relay listening on {host}:{port}", flush=True)
    if args.sink:
        serve(server, _sink_connection, args.expect)
    else:
        serve(server, _relay_connection, parse_target(args.target), args.framed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
