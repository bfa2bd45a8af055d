"""Bad input (issue 10): a seeded random harness over the codec and the frame / HTTP/2 input path of the
real executables. Random and truncated bodies, lying length prefixes, bogus headers, garbage
connections and 10,000 streams opened and reset: no process dies, no call answers INTERNAL or
UNKNOWN for a bad message, memory stays bounded, and the other streams of the connection carry on.

The seed is printed with every failure (CRM_FUZZ_SEED=N reproduces a run; default fixed);
CRM_RELIABILITY_SCALE=N multiplies the iteration counts (benchmarks/reliability runs it larger).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time

import grpc
import pytest

from raw_h2 import (CANCEL, CONTINUATION, DATA, HEADERS, PREFACE, RST_STREAM, SETTINGS, RawH2, frame, grpc_message,
                    grpc_request_headers, literal_headers)
from reliability_support import MAIN_SERVICES, SCALE, filled, hostile_bodies, methods_of, raw_call, rss_kb, status_of
from suite import identity

SEED = int(os.environ.get("CRM_FUZZ_SEED", "20260105"))
ADMIN_TOKEN = "fuzz-admin-token"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
SERVING = b"\x08\x01"
FORBIDDEN = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def admin_metadata(process: str):
    if process == "gateway":
        return (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    return identity("fuzz-admin", "admin", "hq")


def start(suite, name: str):
    extra = ("--admin-token", ADMIN_TOKEN) if name == "gateway" else ()
    return suite.start(name, *extra)


def assert_serving(channel: grpc.Channel) -> None:
    from grpc.health.v1 import health_pb2, health_pb2_grpc
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("process", sorted(MAIN_SERVICES))
def test_codec_survives_random_and_truncated_bodies_for_every_method(suite, process):
    """Every method of the process gets hostile bodies derived from a fully populated valid request.
    Each must answer a status (never INTERNAL/UNKNOWN: a bad message is the caller's fault) and the
    process must stay up and keep serving."""
    managed = start(suite, process)
    channel = suite.channel(process)
    metadata = admin_metadata(process)
    rng = random.Random(f"{SEED}-{process}")
    per_method = 12 * SCALE
    problems = []
    calls = 0
    for method in methods_of(process):
        valid = filled(method.input, rng).SerializeToString()
        for body in hostile_bodies(valid, rng, per_method):
            payloads = [body, valid, body] if method.client_streaming else [body]
            code, details = status_of(lambda: raw_call(channel, method, payloads, metadata, timeout=15))
            calls += 1
            if code in FORBIDDEN:
                problems.append(f"{method}: {code.name}: {details!r} for body {body[:40].hex()}…")
        managed.assert_alive()
    assert_serving(channel)
    assert not problems, f"seed {SEED}: {len(problems)} of {calls} calls answered INTERNAL/UNKNOWN:\n" + \
        "\n".join(problems[:30])


def open_watch(connection: RawH2) -> int:
    """A long-lived server stream (health Watch): it must stay open through everything else."""
    stream = connection.request(WATCH, grpc_message(b""))
    connection.pump(lambda: bool(connection.streams[stream].messages()), 10)
    assert connection.streams[stream].messages() == [SERVING], connection.streams[stream]
    return stream


def check_on(connection: RawH2) -> None:
    stream = connection.request(CHECK, grpc_message(b""))
    result = connection.wait_closed(stream)
    assert result.grpc_status == 0 and result.messages() == [SERVING], result


def test_bad_streams_fail_alone_and_the_connection_carries_on(suite):
    """Stream-level bad input on one connection: each bad stream gets its own status or reset; a
    health Watch opened first stays open, and a good call after each bad one succeeds."""
    managed = suite.start("leads")
    token = ("x-crm-service-token", "test-service-token")
    create = "/crm.leads.v1.LeadService/CreateLead"
    cases = [
        # (what, path, body (framed) or None, extra headers, expected grpc-status or "reset")
        ("4 GiB length prefix", CHECK, grpc_message(b"", declared_length=0xFFFFFFFF), [], 8),
        ("prefix longer than the body", CHECK, grpc_message(b"\x0a\x01a", declared_length=50), [], 3),
        ("half a prefix", CHECK, b"\x00\x00\x00", [], 3),
        ("compressed flag, no grpc-encoding", CHECK, grpc_message(b"", compressed=True), [], 13),
        ("unknown grpc-encoding", CHECK, grpc_message(b""), [("grpc-encoding", "zstd-9000")], 12),
        ("garbage protobuf to a service", create, grpc_message(b"\xff" * 20), [token], 3),
        ("deep nesting", create, grpc_message(b"\x0a\x7f" * 300), [token], 3),
        ("no service token", create, grpc_message(b""), [], 16),
        ("wrong service token", create, grpc_message(b""), [("x-crm-service-token", "nope")], 16),
        ("unknown method", "/crm.leads.v1.LeadService/Nope", grpc_message(b""), [token], 12),
        ("unknown service", "/no.such.Service/Call", grpc_message(b""), [token], 12),
        ("path without a method", "/", grpc_message(b""), [], 12),
        ("bogus grpc-timeout", CHECK, grpc_message(b""), [("grpc-timeout", "soon")], None),
        ("grpc-timeout of 0", CHECK, grpc_message(b""), [("grpc-timeout", "0n")], None),
        ("huge grpc-timeout", CHECK, grpc_message(b""), [("grpc-timeout", "99999999H")], None),
        ("bad -bin metadata", CHECK, grpc_message(b""), [("x-bad-bin", "%%%not base64%%%")], None),
        ("two messages to a unary method", CHECK, grpc_message(b"") * 2, [], None),
        ("identity of no role", create, grpc_message(b""), [token, ("x-crm-user", "u"), ("x-crm-role", "king")], 16),
    ]
    raw_header_cases = [
        ("no :path", [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                      ("content-type", "application/grpc")]),
        ("GET instead of POST", [(":method", "GET"), (":scheme", "http"), (":path", CHECK), (":authority", "x"),
                                 ("content-type", "application/grpc")]),
        ("no content-type", [(":method", "POST"), (":scheme", "http"), (":path", CHECK), (":authority", "x")]),
        ("content-type text/html", grpc_request_headers(CHECK)[:4] + [("content-type", "text/html")]),
        ("upper-case header name", grpc_request_headers(CHECK, extra=[("X-Upper", "1")])),
        ("connection-specific header", grpc_request_headers(CHECK, extra=[("connection", "keep-alive")])),
        ("NUL in a header value", grpc_request_headers(CHECK, extra=[("x-nul", b"a\x00b")])),
        ("CR LF in a header value", grpc_request_headers(CHECK, extra=[("x-crlf", b"a\r\nb: c")])),
        ("pseudo-header after a regular one", [("content-type", "application/grpc"), (":method", "POST"),
                                               (":scheme", "http"), (":path", CHECK), (":authority", "x")]),
        ("duplicate :path", grpc_request_headers(CHECK) + [(":path", "/x")]),
        ("unknown pseudo-header", grpc_request_headers(CHECK, extra=[(":bogus", "1")])),
    ]

    connection = RawH2(suite.address("leads"))
    watch = open_watch(connection)
    seen = []
    for what, path, body, extra, expected in cases:
        stream = connection.request(path, body, extra_headers=extra)
        result = connection.wait_closed(stream)
        assert result.closed, f"{what}: the stream never ended: {result}"
        if expected is not None:
            assert result.grpc_status == expected, f"{what}: expected grpc-status {expected}, got {result}"
        seen.append((what, result.grpc_status, result.reset))
        check_on(connection)
    for what, headers in raw_header_cases:
        stream = connection.next_stream()
        connection.headers(stream, headers)
        connection.data(stream, grpc_message(b""))
        result = connection.wait_closed(stream)
        assert result.closed, f"{what}: the stream never ended: {result}"
        # Refused one way or another: a reset, a non-200 HTTP status, or a non-OK grpc-status.
        refused = result.reset is not None or result.header(":status") != "200" or result.grpc_status not in (0, None)
        assert refused, f"{what} was accepted: {result}"
        seen.append((what, result.grpc_status, result.reset))
        check_on(connection)
    # A stream that sends DATA after it was reset by us: the server must drop it, not the connection.
    stream = connection.request(CHECK, None, end_stream=False)
    connection.rst(stream)
    check_on(connection)

    assert connection.goaway is None, f"the connection was shut down: {connection.goaway}; seen {seen}"
    watched = connection.streams[watch]
    assert not watched.closed, f"the Watch stream was closed by bad neighbours: {watched}"
    connection.close()
    managed.assert_alive()
    assert_serving(suite.channel("leads"))


def test_garbage_connections_never_take_the_process_down(suite):
    """Connection-level garbage (no preface, random frames, broken HPACK, oversized headers, frames
    on stream 0 that belong on a stream...): the server may close that connection (GOAWAY), never
    crash, and a fresh client is served right after each one."""
    managed = suite.start("leads")
    address = suite.address("leads")
    rng = random.Random(f"{SEED}-connections")
    header_block = literal_headers(grpc_request_headers(CHECK))
    host, port = address.rsplit(":", 1)

    def attempt(payload: bytes) -> None:
        """Sends `payload` as the whole conversation (no preface unless it has one), reads what comes back."""
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.settimeout(0.5)
            try:
                sock.sendall(payload)
                while sock.recv(65536):
                    pass
            except (socket.timeout, ConnectionError):
                pass

    settings = frame(SETTINGS, 0, 0)
    fixed = [
        rng.randbytes(64),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        PREFACE[:10],
        PREFACE + settings + frame(HEADERS, 0x4, 1, rng.randbytes(40)),              # undecodable HPACK
        PREFACE + settings + frame(HEADERS, 0x4, 2, header_block),                   # even (server) stream id
        PREFACE + settings + frame(HEADERS, 0x4, 0, header_block),                   # HEADERS on stream 0
        PREFACE + settings + frame(DATA, 0x1, 1, b"x"),                              # DATA on an idle stream
        PREFACE + settings + frame(RST_STREAM, 0, 0, b"\x00\x00\x00\x08"),           # RST on stream 0
        PREFACE + settings + frame(SETTINGS, 0, 0, b"\x00\x04\xff\xff\xff\xff"),     # window above 2^31-1
        PREFACE + settings + frame(SETTINGS, 0, 0, b"\x00\x05\x00\x00\x00\x01"),     # max frame size 1
        PREFACE + settings + struct.pack(">I", 0xFFFFFF)[1:] + b"\x00\x00\x00\x00\x00\x01",  # 16 MiB frame header
        PREFACE + settings + frame(HEADERS, 0x4, 1, literal_headers(                  # a 1 MiB header value
            grpc_request_headers(CHECK, extra=[("x-big", "v" * (1 << 20))]))),
        PREFACE + settings + split_headers(1, literal_headers(                        # 256 KiB of headers in
            grpc_request_headers(CHECK, extra=[(f"x-h{i}", "v" * 4096) for i in range(64)]))),  # CONTINUATIONs
        PREFACE + settings + frame(HEADERS, 0x0, 1, header_block) + frame(HEADERS, 0x4, 3, header_block),  # no CONTINUATION
        PREFACE + settings + frame(9, 0x4, 1, header_block),                          # CONTINUATION without HEADERS
        PREFACE + settings + frame(8, 0, 0, b"\x00\x00\x00\x00"),                     # WINDOW_UPDATE of 0
        PREFACE + settings + frame(8, 0, 0, b"\x7f\xff\xff\xff") * 2,                 # window overflow
        PREFACE + settings + b"".join(frame(6, 0, 0, rng.randbytes(8)) for _ in range(2000)),  # PING flood
    ]
    payloads = fixed + [PREFACE + settings + b"".join(
        frame(rng.randrange(12), rng.randrange(256), rng.choice([0, 1, 3, 2**31 - 1]), rng.randbytes(rng.randrange(40)))
        for _ in range(rng.randint(1, 8))) for _ in range(60 * SCALE)]
    for i, payload in enumerate(payloads):
        attempt(payload)
        managed.assert_alive()
        if i % 10 == 0:
            check = RawH2(address)
            check_on(check)
            check.close()
    assert_serving(suite.channel("leads"))


def split_headers(stream: int, block: bytes, size: int = 16_384) -> bytes:
    """A header block as HEADERS plus CONTINUATION frames of at most `size` bytes."""
    chunks = [block[i:i + size] for i in range(0, len(block), size)]
    frames = [frame(HEADERS if i == 0 else CONTINUATION, 0x4 if i == len(chunks) - 1 else 0, stream, chunk)
              for i, chunk in enumerate(chunks)]
    return b"".join(frames)


def test_ten_thousand_streams_opened_and_reset(suite):
    """10,000 streams opened (headers and half a message) and reset by the client on one connection:
    the Watch stream opened first is untouched, the connection stays up, a call on it still works,
    and the process's resident memory returns to a bounded level (no per-stream leak)."""
    managed = suite.start("leads")
    address = suite.address("leads")
    total = 10_000

    def churn(connection: RawH2, count: int) -> None:
        block = literal_headers(grpc_request_headers(CHECK))
        batch = bytearray()
        for i in range(count):
            stream = connection._next
            connection._next += 2
            batch += frame(HEADERS, 0x4, stream, block) + frame(DATA, 0, stream, b"\x00\x00\x00")
            batch += frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL))
            if i % 200 == 199:
                connection.send_raw(bytes(batch))
                batch.clear()
                connection.pump(lambda: False, 0.005)  # read what came back (SETTINGS, PINGs)
        connection.send_raw(bytes(batch))

    warm = RawH2(address)
    churn(warm, 2_000)  # allocator and caches reach their working size
    check_on(warm)
    warm.close()
    time.sleep(0.5)
    before = rss_kb(managed.proc.pid)

    connection = RawH2(address)
    watch = open_watch(connection)
    started = time.monotonic()
    churn(connection, total)
    check_on(connection)
    elapsed = time.monotonic() - started
    assert connection.goaway is None, f"GOAWAY after {total} resets: {connection.goaway}"
    assert not connection.streams[watch].closed, connection.streams[watch]
    # Another 10,000 on a second connection: memory must plateau, not grow with every stream.
    second = RawH2(address)
    churn(second, total)
    check_on(second)
    time.sleep(0.5)
    after = rss_kb(managed.proc.pid)
    check_on(connection)
    assert not connection.streams[watch].closed
    connection.close()
    second.close()
    print(f"\n{2 * total} streams opened and reset in {elapsed:.1f} s (first 10,000); "
          f"RSS {before / 1024:.1f} MB -> {after / 1024:.1f} MB")
    assert after - before < 24 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MB over {2 * total} reset streams"
    managed.assert_alive()
    assert_serving(suite.channel("leads"))
