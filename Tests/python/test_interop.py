"""Official gRPC interop cases, stock grpcio client -> Swift crm-interop-server."""

from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

import interop_cases


@pytest.fixture
def channel(interop_server):
    with interop_cases.insecure_channel(interop_server) as ch:
        # Fail fast (not after the first RPC's timeout) if nothing listens.
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


@pytest.mark.parametrize("case", list(interop_cases.CASES))
def test_interop_case(case, channel):
    interop_cases.run_case(case, channel)


def test_all_cases_concurrently_on_one_channel(channel, interop_server_process):
    """All fourteen cases at once on one HTTP/2 connection.

    Interleaves unary, streaming, cancelled and deadline-exceeded streams on
    the same connection, which is where stream bookkeeping (per-stream state,
    flow-control windows, RST_STREAM handling) tends to go wrong.
    """
    names = list(interop_cases.CASES)
    # Start everything together so the streams really overlap.
    barrier = threading.Barrier(len(names))

    def run(name):
        barrier.wait(timeout=30)
        interop_cases.run_case(name, channel)

    failures = {}
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {name: pool.submit(run, name) for name in names}
        for name, future in futures.items():
            try:
                future.result()
            except BaseException as exc:
                failures[name] = exc
    assert not failures, "cases failed when run concurrently:\n" + "\n".join(
        f"  {name}: {type(exc).__name__}: {exc}" for name, exc in failures.items())
    interop_server_process.assert_alive()


def test_ten_channels_fifty_large_unary_each(interop_server, interop_server_process):
    """10 connections x 50 large_unary calls, with up to 10 calls in flight per
    connection -- enough to hit the server's per-connection and
    per-stream flow control from several connections at once."""
    channels, calls_per_channel, window = 10, 50, 10

    def drive(index: int) -> int:
        completed = 0
        with interop_cases.insecure_channel(interop_server) as ch:
            stub = interop_cases.make_test_stub(ch)
            messages = interop_cases.protos().messages
            request = messages.SimpleRequest(
                response_size=interop_cases.LARGE_RESPONSE_SIZE,
                payload=messages.Payload(body=bytes(interop_cases.LARGE_REQUEST_SIZE)),
            )
            in_flight = collections.deque()
            for _ in range(calls_per_channel):
                in_flight.append(stub.UnaryCall.future(request, timeout=120))
                if len(in_flight) >= window:
                    interop_cases.assert_zero_payload(
                        in_flight.popleft().result(), interop_cases.LARGE_RESPONSE_SIZE)
                    completed += 1
            while in_flight:
                interop_cases.assert_zero_payload(
                    in_flight.popleft().result(), interop_cases.LARGE_RESPONSE_SIZE)
                completed += 1
        return completed

    with ThreadPoolExecutor(max_workers=channels) as pool:
        results = list(pool.map(drive, range(channels)))
    assert results == [calls_per_channel] * channels
    interop_server_process.assert_alive()
