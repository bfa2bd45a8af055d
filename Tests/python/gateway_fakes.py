"""Helpers for the crm-gateway tests: bootstrap a directory through the real gateway, and a
stand-in backend (stock grpcio server) that records exactly what the gateway forwards to a service
— metadata, remaining deadline, message bytes — and answers with headers, trailers and statuses the
tests choose.  The stand-in takes a backend's address, so the gateway under test cannot tell it
from the real service."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc

ADMIN_TOKEN = "test-admin-bootstrap-token"


def bearer(token: str, *extra):
    return (("authorization", f"Bearer {token}"),) + tuple(extra)


def admin(*extra):
    return bearer(ADMIN_TOKEN, *extra)


@dataclass
class Person:
    user: object
    token: str

    @property
    def id(self) -> str:
        return self.user.id

    def md(self, *extra):
        return bearer(self.token, *extra)


class Directory:
    """Creates teams, users and tokens through a running gateway with the bootstrap token."""

    def __init__(self, channel):
        from crm.gateway.v1 import gateway_pb2, gateway_pb2_grpc
        self.pb = gateway_pb2
        self.stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        self._n = 0

    def team(self, name: str, manager_id: str = ""):
        return self.stub.CreateTeam(self.pb.CreateTeamRequest(name=name, manager_id=manager_id),
                                    metadata=admin(), timeout=10).team

    def person(self, name: str, role: str = "rep", team_id: str = "") -> Person:
        self._n += 1
        roles = {"rep": self.pb.ROLE_REP, "manager": self.pb.ROLE_MANAGER, "admin": self.pb.ROLE_ADMIN}
        user = self.stub.CreateUser(self.pb.CreateUserRequest(
            request_id=f"person-{name}-{self._n}", name=name, email=f"{name.lower()}@example.com",
            role=roles[role], team_id=team_id), metadata=admin(), timeout=10).user
        token = self.stub.IssueToken(self.pb.IssueTokenRequest(user_id=user.id, name="test"),
                                     metadata=admin(), timeout=10).token
        return Person(user, token)


def raw(channel, path: str, kind: str = "unary"):
    """A multi-callable that sends and receives raw bytes (no (de)serialisation)."""
    make = {"unary": channel.unary_unary, "server": channel.unary_stream,
            "client": channel.stream_unary, "bidi": channel.stream_stream}[kind]
    return make(path, request_serializer=None, response_deserializer=None)


@dataclass
class Seen:
    method: str
    metadata: dict
    time_remaining: float | None
    requests: list = field(default_factory=list)
    cancelled_after: float | None = None


class FakeBackend:
    """A stock grpcio server standing in for one backend (e.g. crm-tickets) at a fixed address.

    Unary methods echo the request bytes back; `.../Fail` aborts with NOT_FOUND plus a trailer;
    `.../Slow` sleeps before answering; `.../Stream` answers the request 3 times (server
    streaming); `.../Collect` counts the messages of a client stream; `.../Chat` echoes each
    message of a bidirectional stream.  Every call is recorded in `seen`.
    """

    def __init__(self, address: str, package: str = "crm.tickets.v1.TicketService"):
        self.address = address
        self.package = package
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.server = None

    def _record(self, context, method: str, requests) -> Seen:
        seen = Seen(method, {k: v for k, v in context.invocation_metadata()}, context.time_remaining(), list(requests))
        with self._lock:
            self.seen.append(seen)
        return seen

    def start(self) -> "FakeBackend":
        backend = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                if details.method == "/grpc.health.v1.Health/Check":
                    # HealthCheckResponse{status: SERVING}, as every suite process answers.
                    return grpc.unary_unary_rpc_method_handler(lambda request, context: b"\x08\x01")
                prefix = f"/{backend.package}/"
                if not details.method.startswith(prefix):
                    return None
                name = details.method[len(prefix):]
                if name == "Stream":
                    def stream(request, context):
                        backend._record(context, name, [request])
                        context.send_initial_metadata((("x-fake-initial", "stream"),))
                        for _ in range(3):
                            yield request
                        context.set_trailing_metadata((("x-fake-trailer", "stream-end"),))
                    return grpc.unary_stream_rpc_method_handler(stream)
                if name == "Collect":
                    def collect(iterator, context):
                        requests = list(iterator)
                        backend._record(context, name, requests)
                        return str(len(requests)).encode()
                    return grpc.stream_unary_rpc_method_handler(collect)
                if name == "Chat":
                    def chat(iterator, context):
                        backend._record(context, name, [])
                        for message in iterator:
                            yield message
                    return grpc.stream_stream_rpc_method_handler(chat)

                def unary(request, context):
                    seen = backend._record(context, name, [request])
                    if name == "Fail":
                        context.set_trailing_metadata((("x-fake-error", "e1"), ("x-fake-error-bin", b"\x00\x01")))
                        context.abort(grpc.StatusCode.NOT_FOUND, "ticket tk-9 not found (fake)")
                    if name == "Slow":
                        # Waits up to 3 s for the caller to give up, noting when the call was cancelled.
                        started = time.monotonic()
                        while context.is_active() and time.monotonic() - started < 3:
                            time.sleep(0.01)
                        seen.cancelled_after = None if context.is_active() else time.monotonic() - started
                    context.send_initial_metadata((("x-fake-initial", "i1"),))
                    context.set_trailing_metadata((("x-fake-trailer", "t1"), ("x-fake-trailer-bin", b"\xff\x00")))
                    return request
                return grpc.unary_unary_rpc_method_handler(unary)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[Handler()],
                                  options=[("grpc.so_reuseport", 0)])
        port = self.server.add_insecure_port(self.address)
        assert port != 0, f"could not bind the fake backend to {self.address}"
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0).wait(5)
            self.server = None

    def last(self, method: str) -> Seen:
        with self._lock:
            for seen in reversed(self.seen):
                if seen.method == method:
                    return seen
        raise AssertionError(f"the backend never saw {method}; it saw {[s.method for s in self.seen]}")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except grpc.RpcError as error:  # noqa: PERF203 - retry until the deadline
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last error: {last_error})")
