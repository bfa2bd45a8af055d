"""grpc.health.v1.Health as served by crm-interop-server, probed with stock grpcio."""

from __future__ import annotations

import time

import grpc
import pytest

import interop_cases

# How long a Watch stream must stay open after its first message to count as
# "not terminated".  Long enough for a server that wrongly ends the stream
# right after the first message to be caught, short enough to keep tests fast.
WATCH_OPEN_S = 1.0
RPC_TIMEOUT_S = 10.0
# Watch calls get a deadline too, far beyond WATCH_OPEN_S: it only exists so
# a server that never sends the first message fails the test instead of
# hanging it.
WATCH_DEADLINE_S = 60.0


@pytest.fixture
def health(interop_server):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    with interop_cases.insecure_channel(interop_server) as channel:
        yield health_pb2, health_pb2_grpc.HealthStub(channel)


def _check(health, service: str):
    pb, stub = health
    return stub.Check(pb.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT_S)


@pytest.mark.parametrize("service", ["", "grpc.testing.TestService"])
def test_check_serving(health, service):
    pb, _ = health
    response = _check(health, service)
    assert response.status == pb.HealthCheckResponse.SERVING
    # Nothing but the status is defined; a canonical SERVING response is 2 bytes.
    assert response == pb.HealthCheckResponse(status=pb.HealthCheckResponse.SERVING)


def test_check_unknown_service_is_not_found(health):
    with pytest.raises(grpc.RpcError) as info:
        _check(health, "nope")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def _assert_watch_stays_open(health, service: str, expected_status: int) -> None:
    pb, stub = health
    call = stub.Watch(pb.HealthCheckRequest(service=service), timeout=WATCH_DEADLINE_S)
    try:
        first = next(call)
        assert first.status == expected_status
        # Watch is a long-lived stream: it must not end after the first
        # message.  `done()` turns true as soon as the status arrives.
        time.sleep(WATCH_OPEN_S)
        assert not call.done(), (
            f"Watch({service!r}) ended after its first message with {call.code()}: "
            f"{call.details()!r}")
    finally:
        call.cancel()
    assert call.code() == grpc.StatusCode.CANCELLED
    # The server must have cleaned up the cancelled stream and keep serving.
    assert _check(health, "").status == pb.HealthCheckResponse.SERVING


def test_watch_overall_server_sends_serving_and_stays_open(health):
    pb, _ = health
    _assert_watch_stays_open(health, "", pb.HealthCheckResponse.SERVING)


def test_watch_unknown_service_sends_service_unknown_and_stays_open(health):
    # health.proto: an unknown service gets SERVICE_UNKNOWN but the call is
    # *not* terminated (unlike Check, which fails with NOT_FOUND).
    pb, _ = health
    _assert_watch_stays_open(health, "nope", pb.HealthCheckResponse.SERVICE_UNKNOWN)


def test_many_cancelled_watches_leave_server_healthy(health, interop_server_process):
    """Open and cancel a batch of watches: each one is a server-side stream the
    server must tear down on RST_STREAM without leaking or wedging."""
    pb, stub = health
    calls = [stub.Watch(pb.HealthCheckRequest(service=""), timeout=WATCH_DEADLINE_S)
             for _ in range(20)]
    for call in calls:
        assert next(call).status == pb.HealthCheckResponse.SERVING
    for call in calls:
        call.cancel()
    assert all(call.code() == grpc.StatusCode.CANCELLED for call in calls)
    assert _check(health, "grpc.testing.TestService").status == pb.HealthCheckResponse.SERVING
    interop_server_process.assert_alive()
