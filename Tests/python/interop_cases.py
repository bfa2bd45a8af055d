"""The published gRPC interop test cases, as client code on a stock grpc channel.

Each case follows doc/interop-test-descriptions.md in github.com/grpc/grpc:
the request messages are exactly the ones the spec lists, and every "Client
asserts" bullet is an ``assert`` below.  Where the spec says clients are *free*
to compare against a golden response, we do (zero-filled bodies, nothing else
set), because that also catches a server that fills in stray fields.

This is our own implementation (the official Python client lives in
src/python/grpcio_tests/tests/interop/methods.py); it is written to be run
from pytest, so failures are assertion errors rather than ValueErrors.

The generated stubs only exist once the ``proto_stubs`` fixture has run, so
they are imported lazily (``protos()``), which keeps this module importable at
collection time.
"""

from __future__ import annotations

import functools
import queue
import threading
from types import SimpleNamespace
from typing import Callable

import grpc

# Metadata keys the interop server echoes back (spec: "Echo Metadata").
INITIAL_METADATA_KEY = "x-grpc-test-echo-initial"
INITIAL_METADATA_VALUE = "test_initial_metadata_value"
TRAILING_METADATA_KEY = "x-grpc-test-echo-trailing-bin"
TRAILING_METADATA_VALUE = b"\xab\xab\xab"

# The sizes the spec uses throughout (digits of pi and e).
LARGE_REQUEST_SIZE = 271828
LARGE_RESPONSE_SIZE = 314159
STREAM_REQUEST_SIZES = (27182, 8, 1828, 45904)
STREAM_RESPONSE_SIZES = (31415, 9, 2653, 58979)

# Upper bound on one case; a case that hangs is a failure, not a stuck run.
CASE_TIMEOUT_S = 60.0


@functools.cache
def protos() -> SimpleNamespace:
    from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc

    return SimpleNamespace(empty=empty_pb2, messages=messages_pb2, grpc=test_pb2_grpc)


def insecure_channel(address: str) -> grpc.Channel:
    """A plain stock channel to ``address`` (cleartext HTTP/2).

    HTTP proxies are disabled: a CI machine with http_proxy set would
    otherwise try to tunnel our 127.0.0.1 connections through the proxy.
    """
    return grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])


def _zeros(n: int) -> bytes:
    return bytes(n)


def make_test_stub(channel: grpc.Channel):
    return protos().grpc.TestServiceStub(channel)


class RequestPipe:
    """A request iterator the test feeds by hand.

    gRPC Python pulls request messages from the iterator on its own thread, so
    a blocking queue lets the test decide *when* each message goes out (after
    a reply, for ping_pong) and when the client half-closes (``close()``) --
    or, for timeout_on_sleeping_server, never.
    """

    _CLOSE = object()

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._closed = False

    def add(self, request) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(self._CLOSE)

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        item = self._queue.get()
        if item is self._CLOSE:
            self._closed = True
            raise StopIteration
        return item


def _expect_rpc_error(call_it: Callable[[], object]) -> grpc.RpcError:
    """Runs ``call_it`` (which must fail) and returns the RpcError it raised."""
    try:
        call_it()
    except grpc.RpcError as error:
        return error
    raise AssertionError("the RPC succeeded but was expected to fail")


def assert_zero_payload(response, size: int) -> None:
    """Golden check for SimpleResponse / StreamingOutputCallResponse."""
    messages = protos().messages
    assert len(response.payload.body) == size, "response payload body has the wrong size"
    golden = type(response)(payload=messages.Payload(type=messages.COMPRESSABLE, body=_zeros(size)))
    assert response == golden, "response differs from the golden (zero-filled) response"


def _metadata_values(metadata, key: str) -> list:
    return [value for k, value in (metadata or ()) if k == key]


def _assert_echoed_metadata(call, what: str) -> None:
    initial = _metadata_values(call.initial_metadata(), INITIAL_METADATA_KEY)
    assert initial == [INITIAL_METADATA_VALUE], (
        f"{what}: {INITIAL_METADATA_KEY} not echoed in initial metadata "
        f"(got {call.initial_metadata()!r})")
    trailing = _metadata_values(call.trailing_metadata(), TRAILING_METADATA_KEY)
    assert trailing == [TRAILING_METADATA_VALUE], (
        f"{what}: {TRAILING_METADATA_KEY} not echoed in trailing metadata "
        f"(got {call.trailing_metadata()!r})")


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------


def empty_unary(channel: grpc.Channel) -> None:
    pb = protos()
    response, call = make_test_stub(channel).EmptyCall.with_call(pb.empty.Empty())
    assert call.code() == grpc.StatusCode.OK
    assert response is not None
    assert isinstance(response, pb.empty.Empty)
    # The spec would like zero bytes on the wire; an Empty that parsed with
    # unknown fields would have a non-zero size, so this checks the response.
    assert response.ByteSize() == 0


def large_unary(channel: grpc.Channel) -> None:
    messages = protos().messages
    request = messages.SimpleRequest(
        response_size=LARGE_RESPONSE_SIZE,
        payload=messages.Payload(body=_zeros(LARGE_REQUEST_SIZE)),
    )
    response, call = make_test_stub(channel).UnaryCall.with_call(request)
    assert call.code() == grpc.StatusCode.OK
    assert_zero_payload(response, LARGE_RESPONSE_SIZE)


def client_streaming(channel: grpc.Channel) -> None:
    messages = protos().messages
    requests = [
        messages.StreamingInputCallRequest(payload=messages.Payload(body=_zeros(size)))
        for size in STREAM_REQUEST_SIZES
    ]
    # Iterating the list sends the four messages in order, then half-closes.
    response, call = make_test_stub(channel).StreamingInputCall.with_call(iter(requests))
    assert call.code() == grpc.StatusCode.OK
    assert response.aggregated_payload_size == 74922


def server_streaming(channel: grpc.Channel) -> None:
    messages = protos().messages
    request = messages.StreamingOutputCallRequest(
        response_parameters=[messages.ResponseParameters(size=s) for s in STREAM_RESPONSE_SIZES],
    )
    call = make_test_stub(channel).StreamingOutputCall(request)
    responses = list(call)  # raises RpcError on a non-OK status
    assert call.code() == grpc.StatusCode.OK
    assert len(responses) == 4, "expected exactly four responses"
    assert [len(r.payload.body) for r in responses] == list(STREAM_RESPONSE_SIZES)
    for response, size in zip(responses, STREAM_RESPONSE_SIZES):
        assert_zero_payload(response, size)


def ping_pong(channel: grpc.Channel) -> None:
    messages = protos().messages
    pipe = RequestPipe()
    call = make_test_stub(channel).FullDuplexCall(pipe)
    try:
        for response_size, payload_size in zip(STREAM_RESPONSE_SIZES, STREAM_REQUEST_SIZES):
            pipe.add(messages.StreamingOutputCallRequest(
                response_parameters=[messages.ResponseParameters(size=response_size)],
                payload=messages.Payload(body=_zeros(payload_size)),
            ))
            # Block for the reply before sending the next request: this is
            # what makes it a ping-pong rather than a pipelined stream.
            response = next(call)
            assert_zero_payload(response, response_size)
        pipe.close()  # half-close after the fourth reply
        extra = list(call)
    finally:
        pipe.close()
    assert extra == [], "expected exactly four responses"
    assert call.code() == grpc.StatusCode.OK


def empty_stream(channel: grpc.Channel) -> None:
    # An empty request iterator: the client half-closes without sending.
    call = make_test_stub(channel).FullDuplexCall(iter(()))
    responses = list(call)
    assert call.code() == grpc.StatusCode.OK
    assert responses == [], "expected exactly zero responses"


def custom_metadata(channel: grpc.Channel) -> None:
    messages = protos().messages
    stub = make_test_stub(channel)
    metadata = (
        (INITIAL_METADATA_KEY, INITIAL_METADATA_VALUE),
        (TRAILING_METADATA_KEY, TRAILING_METADATA_VALUE),
    )

    # Step 1: UnaryCall.
    request = messages.SimpleRequest(
        response_size=LARGE_RESPONSE_SIZE,
        payload=messages.Payload(body=_zeros(LARGE_REQUEST_SIZE)),
    )
    response, call = stub.UnaryCall.with_call(request, metadata=metadata)
    assert call.code() == grpc.StatusCode.OK
    assert_zero_payload(response, LARGE_RESPONSE_SIZE)
    _assert_echoed_metadata(call, "UnaryCall")

    # Step 2: FullDuplexCall with one request, then half-close.
    request = messages.StreamingOutputCallRequest(
        response_parameters=[messages.ResponseParameters(size=LARGE_RESPONSE_SIZE)],
        payload=messages.Payload(body=_zeros(LARGE_REQUEST_SIZE)),
    )
    call = stub.FullDuplexCall(iter([request]), metadata=metadata)
    responses = list(call)
    assert call.code() == grpc.StatusCode.OK
    assert len(responses) == 1
    assert_zero_payload(responses[0], LARGE_RESPONSE_SIZE)
    _assert_echoed_metadata(call, "FullDuplexCall")


def _echo_status_case(channel: grpc.Channel, message: str, *, full_duplex: bool) -> None:
    messages = protos().messages
    stub = make_test_stub(channel)
    code = 2  # UNKNOWN
    status = messages.EchoStatus(code=code, message=message)

    error = _expect_rpc_error(lambda: stub.UnaryCall(messages.SimpleRequest(response_status=status)))
    assert error.code().value[0] == code, f"UnaryCall: got {error.code()}"
    assert error.details() == message, "UnaryCall: status message was not propagated verbatim"

    if full_duplex:
        received = []
        call = stub.FullDuplexCall(iter([messages.StreamingOutputCallRequest(response_status=status)]))
        error = _expect_rpc_error(lambda: received.extend(call))
        assert received == [], "FullDuplexCall: no response messages were requested"
        assert error.code().value[0] == code, f"FullDuplexCall: got {error.code()}"
        assert error.details() == message, "FullDuplexCall: status message was not propagated verbatim"


def status_code_and_message(channel: grpc.Channel) -> None:
    _echo_status_case(channel, "test status message", full_duplex=True)


def special_status_message(channel: grpc.Channel) -> None:
    # Whitespace, a BMP and a non-BMP character: the server has to
    # percent-encode grpc-message and the client to decode it.
    _echo_status_case(
        channel,
        "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n",
        full_duplex=False,
    )


def unimplemented_method(channel: grpc.Channel) -> None:
    pb = protos()
    error = _expect_rpc_error(lambda: make_test_stub(channel).UnimplementedCall(pb.empty.Empty()))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.code().value[0] == 12


def unimplemented_service(channel: grpc.Channel) -> None:
    pb = protos()
    stub = pb.grpc.UnimplementedServiceStub(channel)
    error = _expect_rpc_error(lambda: stub.UnimplementedCall(pb.empty.Empty()))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.code().value[0] == 12


def timeout_on_sleeping_server(channel: grpc.Channel) -> None:
    messages = protos().messages
    pipe = RequestPipe()
    pipe.add(messages.StreamingOutputCallRequest(payload=messages.Payload(body=_zeros(27182))))
    # "Client waits": the pipe is left open (no half-close), so only the 1 ms
    # deadline can end the call.
    call = make_test_stub(channel).FullDuplexCall(pipe, timeout=0.001)
    try:
        error = _expect_rpc_error(lambda: list(call))
    finally:
        pipe.close()  # lets gRPC's request-consumer thread finish
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert call.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def cancel_after_begin(channel: grpc.Channel) -> None:
    pipe = RequestPipe()
    future = make_test_stub(channel).StreamingInputCall.future(pipe)
    try:
        assert future.cancel(), "cancel() reported the call had already completed"
    finally:
        pipe.close()
    assert future.cancelled()
    assert future.code() == grpc.StatusCode.CANCELLED


def cancel_after_first_response(channel: grpc.Channel) -> None:
    messages = protos().messages
    pipe = RequestPipe()
    pipe.add(messages.StreamingOutputCallRequest(
        response_parameters=[messages.ResponseParameters(size=31415)],
        payload=messages.Payload(body=_zeros(27182)),
    ))
    call = make_test_stub(channel).FullDuplexCall(pipe)
    try:
        first = next(call)
        assert len(first.payload.body) == 31415
        call.cancel()
        error = _expect_rpc_error(lambda: next(call))
    finally:
        pipe.close()
    assert error.code() == grpc.StatusCode.CANCELLED
    assert call.code() == grpc.StatusCode.CANCELLED


CASES: dict[str, Callable[[grpc.Channel], None]] = {
    "empty_unary": empty_unary,
    "large_unary": large_unary,
    "client_streaming": client_streaming,
    "server_streaming": server_streaming,
    "ping_pong": ping_pong,
    "empty_stream": empty_stream,
    "custom_metadata": custom_metadata,
    "status_code_and_message": status_code_and_message,
    "special_status_message": special_status_message,
    "unimplemented_method": unimplemented_method,
    "unimplemented_service": unimplemented_service,
    "timeout_on_sleeping_server": timeout_on_sleeping_server,
    "cancel_after_begin": cancel_after_begin,
    "cancel_after_first_response": cancel_after_first_response,
}


def run_case(name: str, channel: grpc.Channel, timeout: float = CASE_TIMEOUT_S) -> None:
    """Runs one case under a watchdog.

    The cases deliberately use no deadlines (the spec's requests have none,
    and a deadline would change what goes on the wire), so a server that
    never answers would block forever.  The case runs on a daemon thread; if
    it overruns, closing the channel cancels its RPCs and we fail.
    """
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            CASES[name](channel)
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"interop-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        channel.close()
        thread.join(5)
        raise AssertionError(f"interop case {name!r} did not finish within {timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
