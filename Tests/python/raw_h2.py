"""A deliberately small HTTP/2 client over a plain socket, for hostile-input tests.

Stock clients (grpcio, nghttp) refuse to send what these tests need to send: bogus or missing
headers, gRPC length prefixes that lie, truncated bodies, thousands of streams opened and reset.
This client writes frames exactly as told (headers are HPACK-encoded as literals without
indexing, so nothing we send depends on the server's state) and decodes what comes back with the
`hpack` package, so a test can read each stream's `:status`, `grpc-status` and body.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
CANCEL = 0x8
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
MAX_WINDOW = 2**31 - 1


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream & MAX_WINDOW) + payload


def _integer(value: int, prefix_bits: int, first_byte: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal_headers(headers: list[tuple[bytes | str, bytes | str]]) -> bytes:
    """HPACK block of "literal header field without indexing — new name" entries, no Huffman:
    any byte string goes out as given, however invalid, which is the point."""
    block = bytearray()
    for name, value in headers:
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        block += b"\x00" + _integer(len(name), 7) + name + _integer(len(value), 7) + value
    return bytes(block)


def grpc_message(body: bytes, compressed: bool = False, declared_length: int | None = None) -> bytes:
    """A gRPC length-prefixed message; `declared_length` lets the prefix lie."""
    length = len(body) if declared_length is None else declared_length
    return struct.pack(">BI", 1 if compressed else 0, length) + body


def grpc_request_headers(path: str, authority: str = "localhost", extra: list | None = None) -> list:
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
            ("content-type", "application/grpc"), ("te", "trailers"), *(extra or [])]


@dataclass
class Stream:
    headers: list[list[tuple[str, str]]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None

    @property
    def closed(self) -> bool:
        return self.ended or self.reset is not None

    def header(self, name: str) -> str | None:
        for block in self.headers:
            for key, value in block:
                if key == name:
                    return value
        return None

    @property
    def grpc_status(self) -> int | None:
        value = self.header("grpc-status")
        return None if value is None else int(value)

    def messages(self) -> list[bytes]:
        """The gRPC messages in the body (undecoded)."""
        out, data = [], bytes(self.data)
        while len(data) >= 5:
            length = struct.unpack(">I", data[1:5])[0]
            out.append(data[5:5 + length])
            data = data[5 + length:]
        return out


class RawH2:
    """One HTTP/2 connection with prior knowledge (h2c). Stream ids are chosen by the caller
    through `next_stream()`; everything the server sends is recorded per stream."""

    def __init__(self, address: str, timeout: float = 10.0):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 65536
        self.streams: dict[int, Stream] = {}
        self.goaway: tuple[int, int, bytes] | None = None  # (last stream id, error code, debug data)
        self.closed = False
        self._buffer = bytearray()
        self._next = 1
        self._pending_headers: tuple[int, int, bytearray] | None = None
        # Open every window wide, so the server is never blocked on us.
        self.send_raw(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW))
                      + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW - 65535)))

    # -- sending -------------------------------------------------------------------------
    def next_stream(self) -> int:
        stream = self._next
        self._next += 2
        self.streams[stream] = Stream()
        return stream

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def headers(self, stream: int, headers: list, end_stream: bool = False) -> None:
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        self.send_raw(frame(HEADERS, flags, stream, literal_headers(headers)))

    def data(self, stream: int, payload: bytes, end_stream: bool = True) -> None:
        self.send_raw(frame(DATA, END_STREAM if end_stream else 0, stream, payload))

    def rst(self, stream: int, code: int = CANCEL) -> None:
        self.send_raw(frame(RST_STREAM, 0, stream, struct.pack(">I", code)))

    def request(self, path: str, body: bytes | None, extra_headers: list | None = None,
                end_stream: bool = True) -> int:
        """Opens a stream with gRPC request headers and sends `body` (already framed) as one DATA frame."""
        stream = self.next_stream()
        if body is None:
            self.headers(stream, grpc_request_headers(path, extra=extra_headers), end_stream=end_stream)
        else:
            self.headers(stream, grpc_request_headers(path, extra=extra_headers))
            self.data(stream, body, end_stream=end_stream)
        return stream

    # -- receiving -----------------------------------------------------------------------
    def pump(self, until, timeout: float = 10.0) -> bool:
        """Reads frames until `until()` is true (returns True) or the timeout or EOF (returns False)."""
        deadline = time.monotonic() + timeout
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return until()
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return until()
            except ConnectionError:
                chunk = b""
            if not chunk:
                self.closed = True
                return until()
            self._buffer += chunk
            self._parse()
        return True

    def wait_closed(self, stream: int, timeout: float = 10.0) -> Stream:
        self.pump(lambda: self.streams[stream].closed, timeout)
        return self.streams[stream]

    def _parse(self) -> None:
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[0:3], "big")
            if len(self._buffer) < 9 + length:
                return
            kind, flags = self._buffer[3], self._buffer[4]
            stream = int.from_bytes(self._buffer[5:9], "big") & MAX_WINDOW
            payload = bytes(self._buffer[9:9 + length])
            del self._buffer[:9 + length]
            self._on_frame(kind, flags, stream, payload)

    def _on_frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        stream = self.streams.setdefault(stream_id, Stream()) if stream_id else None
        if kind == SETTINGS and not flags & ACK:
            self.send_raw(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            self.send_raw(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & MAX_WINDOW, code, payload[8:])
        elif kind == RST_STREAM and stream is not None:
            stream.reset = struct.unpack(">I", payload)[0]
        elif kind == DATA and stream is not None:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            stream.data += payload
            if length := len(payload):  # give the credit straight back (the stream's only while it is open)
                increment = struct.pack(">I", length)
                credit = frame(WINDOW_UPDATE, 0, 0, increment)
                if not flags & END_STREAM:
                    credit += frame(WINDOW_UPDATE, 0, stream_id, increment)
                self.send_raw(credit)
            stream.ended |= bool(flags & END_STREAM)
        elif kind in (HEADERS, CONTINUATION) and stream is not None:
            if kind == HEADERS:
                if flags & PADDED:
                    payload = payload[1:len(payload) - payload[0]]
                if flags & PRIORITY_FLAG:
                    payload = payload[5:]
                self._pending_headers = (stream_id, flags, bytearray(payload))
            elif self._pending_headers is not None:
                self._pending_headers[2].extend(payload)
            if flags & END_HEADERS and self._pending_headers is not None:
                sid, first_flags, block = self._pending_headers
                self._pending_headers = None
                decoded = [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                           for k, v in self.decoder.decode(bytes(block), raw=True)]
                target = self.streams.setdefault(sid, Stream())
                target.headers.append(decoded)
                target.ended |= bool(first_flags & END_STREAM)

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self.closed = True
