"""crm-gateway (issue 8) driven over gRPC with stock grpcio stubs: bearer auth and the directory,
pass-through routing (identity, metadata, deadlines, status and trailers, every call shape),
backend failure and recovery, and the combined views' partial results.

Backends here are stand-ins (gateway_fakes.FakeBackend) at a backend's address, so the tests see
exactly what the real gateway forwards; test_gateway_services.py runs the real services."""

from __future__ import annotations

import hashlib
import subprocess
import time

import grpc
import pytest

from gateway_fakes import ADMIN_TOKEN, Directory, FakeBackend, admin, bearer, raw, wait_until
from suite import SERVICE_TOKEN

T = 10  # seconds: generous RPC timeout so a hang fails instead of blocking


@pytest.fixture
def gw(suite):
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    from crm.gateway.v1 import gateway_pb2, gateway_pb2_grpc
    channel = suite.channel("gateway")
    return channel, gateway_pb2, gateway_pb2_grpc.GatewayServiceStub(channel), Directory(channel)


def code_of(call):
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


# ---------------------------------------------------------------- identity and tokens

def test_no_bad_and_revoked_tokens_are_unauthenticated(gw, suite):
    channel, pb, stub, directory = gw
    team = directory.team("Team A")
    ann = directory.person("Ann", "rep", team.id)

    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=ann.md(), timeout=T)
    assert me.user.id == ann.id and me.user.role == pb.ROLE_REP and me.team.id == team.id
    assert not me.bootstrap and me.token.user_id == ann.id
    assert ann.token.startswith(me.token.prefix) and len(ann.token) > len(me.token.prefix) + 20

    backend = FakeBackend(suite.address("tickets")).start()
    try:
        path = "/crm.tickets.v1.TicketService/GetTicket"
        for metadata in [(), bearer("not-a-token"), (("authorization", "Basic abc"),),
                         bearer(ann.token + "x"), (("x-crm-user", ann.id), ("x-crm-role", "admin"))]:
            for call in (lambda: stub.WhoAmI(pb.WhoAmIRequest(), metadata=metadata, timeout=T),
                         lambda: raw(channel, path)(b"", metadata=metadata, timeout=T)):
                error = code_of(call)
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (metadata, error)
        assert backend.seen == [], "an unauthenticated call reached the backend"

        # Revocation takes effect at once, for the gateway's own methods and for pass-through.
        assert raw(channel, path)(b"", metadata=ann.md(), timeout=T) == b""
        tokens = stub.ListTokens(pb.ListTokensRequest(), metadata=ann.md(), timeout=T).tokens
        assert [t.id for t in tokens] == [me.token.id]
        revoked = stub.RevokeToken(pb.RevokeTokenRequest(token_id=me.token.id, reason="lost laptop"),
                                   metadata=ann.md(), timeout=T).info
        assert revoked.revoked and revoked.revoked_by == ann.id
        for call in (lambda: stub.WhoAmI(pb.WhoAmIRequest(), metadata=ann.md(), timeout=T),
                     lambda: raw(channel, path)(b"", metadata=ann.md(), timeout=T)):
            error = code_of(call)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in error.details()
        assert len(backend.seen) == 1
    finally:
        backend.stop()


def test_deactivated_user_loses_every_token_at_once(gw):
    _, pb, stub, directory = gw
    bob = directory.person("Bob", "rep")
    second = stub.IssueToken(pb.IssueTokenRequest(name="cli"), metadata=bob.md(), timeout=T)
    assert second.token and second.info.user_id == bob.id
    stub.WhoAmI(pb.WhoAmIRequest(), metadata=bearer(second.token), timeout=T)

    done = stub.DeactivateUser(pb.DeactivateUserRequest(user_id=bob.id, version=bob.user.version, reason="left"),
                               metadata=admin(), timeout=T)
    assert done.revoked_tokens == 2 and not done.user.active and done.user.deactivation_reason == "left"
    for token in (bob.token, second.token):
        error = code_of(lambda: stub.WhoAmI(pb.WhoAmIRequest(), metadata=bearer(token), timeout=T))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    listed = stub.ListUsers(pb.ListUsersRequest(), metadata=admin(), timeout=T).users
    assert bob.id not in [u.id for u in listed]
    listed = stub.ListUsers(pb.ListUsersRequest(include_inactive=True), metadata=admin(), timeout=T).users
    assert bob.id in [u.id for u in listed]


def test_expired_token_follows_the_clock(gw, suite):
    _, pb, stub, directory = gw
    cy = directory.person("Cy", "rep")
    short = stub.IssueToken(pb.IssueTokenRequest(name="short", expires_at_ms=suite.clock.now_ms + 3_600_000),
                            metadata=cy.md(), timeout=T).token
    stub.WhoAmI(pb.WhoAmIRequest(), metadata=bearer(short), timeout=T)
    suite.clock.advance(hours=2)
    error = code_of(lambda: stub.WhoAmI(pb.WhoAmIRequest(), metadata=bearer(short), timeout=T))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "expired" in error.details()
    stub.WhoAmI(pb.WhoAmIRequest(), metadata=cy.md(), timeout=T)


def test_directory_persists_and_creates_are_idempotent(gw, suite):
    channel, pb, stub, directory = gw
    team = directory.team("Persist")
    request = pb.CreateUserRequest(request_id="rq-1", name="Dee", email="Dee@Example.com", role=pb.ROLE_MANAGER,
                                   team_id=team.id, lead_capacity=5)
    first = stub.CreateUser(request, metadata=admin(), timeout=T)
    again = stub.CreateUser(request, metadata=admin(), timeout=T)
    assert not first.replayed and again.replayed and again.user == first.user
    assert first.user.email == "dee@example.com" and first.user.active and first.user.version == 1
    users = stub.ListUsers(pb.ListUsersRequest(team_id=team.id), metadata=admin(), timeout=T).users
    assert [u.id for u in users] == [first.user.id]
    # The first manager of a team becomes its manager.
    teams = stub.ListTeams(pb.ListTeamsRequest(), metadata=admin(), timeout=T).teams
    assert [(t.id, t.manager_id, t.member_count) for t in teams] == [(team.id, first.user.id, 1)]

    error = code_of(lambda: stub.CreateUser(pb.CreateUserRequest(request_id="rq-1", name="Other", role=pb.ROLE_REP),
                                            metadata=admin(), timeout=T))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "request_id" in error.details()

    issued = stub.IssueToken(pb.IssueTokenRequest(request_id="tok-1", user_id=first.user.id, name="ci"),
                             metadata=admin(), timeout=T)
    replay = stub.IssueToken(pb.IssueTokenRequest(request_id="tok-1", user_id=first.user.id, name="ci"),
                             metadata=admin(), timeout=T)
    assert issued.token and replay.replayed and replay.token == "" and replay.info == issued.info
    assert len(stub.ListTokens(pb.ListTokensRequest(user_id=first.user.id), metadata=admin(), timeout=T).tokens) == 1

    suite.stop("gateway")
    stored = b"".join(p.read_bytes() for p in suite.directory.glob("gateway.sqlite*"))
    assert issued.token.encode() not in stored, "a token secret reached the store"
    assert hashlib.sha256(issued.token.encode()).hexdigest().encode() in stored
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    stub = type(stub)(suite.channel("gateway"))
    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=bearer(issued.token), timeout=T)
    assert me.user == first.user and me.team.name == "Persist"
    again = stub.CreateUser(request, metadata=admin(), timeout=T)
    assert again.replayed and again.user == first.user


def test_invalid_input_names_every_field_and_rules_are_enforced(gw):
    _, pb, stub, directory = gw
    error = code_of(lambda: stub.CreateUser(pb.CreateUserRequest(email="nope", lead_capacity=-1), metadata=admin(), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("name", "email", "role", "lead_capacity"):
        assert f"{field}:" in error.details(), error.details()
    error = code_of(lambda: stub.CreateUser(pb.CreateUserRequest(name="X", role=pb.ROLE_REP, team_id="no-such-team"),
                                            metadata=admin(), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "team_id:" in error.details()

    team = directory.team("Rules")
    eve = directory.person("Eve", "rep", team.id)
    error = code_of(lambda: stub.CreateUser(pb.CreateUserRequest(name="Fay", email="eve@example.com", role=pb.ROLE_REP),
                                            metadata=admin(), timeout=T))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and "email" in error.details()
    error = code_of(lambda: stub.CreateTeam(pb.CreateTeamRequest(name=" rules "), metadata=admin(), timeout=T))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS

    # A rep may not administer the directory, nor issue tokens for someone else.
    error = code_of(lambda: stub.CreateUser(pb.CreateUserRequest(name="G", role=pb.ROLE_REP), metadata=eve.md(), timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    other = directory.person("Gus", "rep", team.id)
    error = code_of(lambda: stub.IssueToken(pb.IssueTokenRequest(user_id=other.id), metadata=eve.md(), timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    # Someone else's token is NOT_FOUND, exactly like a missing one.
    gus_token = stub.ListTokens(pb.ListTokensRequest(), metadata=other.md(), timeout=T).tokens[0]
    for token_id in (gus_token.id, "tok_missing"):
        error = code_of(lambda: stub.RevokeToken(pb.RevokeTokenRequest(token_id=token_id), metadata=eve.md(), timeout=T))
        assert error.code() == grpc.StatusCode.NOT_FOUND
    stub.WhoAmI(pb.WhoAmIRequest(), metadata=other.md(), timeout=T)

    # Updates name the version they change; a rep may only set their own out-of-office.
    error = code_of(lambda: stub.UpdateUser(pb.UpdateUserRequest(user_id=eve.id, version=7, out_of_office=True),
                                            metadata=eve.md(), timeout=T))
    assert error.code() == grpc.StatusCode.ABORTED and "version 1" in error.details()
    updated = stub.UpdateUser(pb.UpdateUserRequest(user_id=eve.id, version=1, out_of_office=True),
                              metadata=eve.md(), timeout=T).user
    assert updated.out_of_office and updated.version == 2
    error = code_of(lambda: stub.UpdateUser(pb.UpdateUserRequest(user_id=eve.id, version=2, role=pb.ROLE_ADMIN),
                                            metadata=eve.md(), timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "role" in error.details()


def test_services_read_the_directory_with_the_service_token_only(gw):
    _, pb, stub, directory = gw
    hal = directory.person("Hal", "rep")
    service = (("x-crm-service-token", SERVICE_TOKEN),)
    users = stub.ListUsers(pb.ListUsersRequest(user_ids=[hal.id]), metadata=service, timeout=T).users
    assert [u.id for u in users] == [hal.id]
    assert stub.GetUser(pb.GetUserRequest(user_id=hal.id), metadata=service, timeout=T).user.name == "Hal"
    for call in (lambda: stub.CreateUser(pb.CreateUserRequest(name="x", role=pb.ROLE_REP), metadata=service, timeout=T),
                 lambda: stub.WhoAmI(pb.WhoAmIRequest(), metadata=service, timeout=T),
                 lambda: stub.ListUsers(pb.ListUsersRequest(), metadata=(("x-crm-service-token", "wrong"),), timeout=T)):
        assert code_of(call).code() == grpc.StatusCode.UNAUTHENTICATED


def test_bootstrap_admin_and_paging(gw):
    _, pb, stub, directory = gw
    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=admin(), timeout=T)
    assert me.bootstrap and me.user.role == pb.ROLE_ADMIN
    error = code_of(lambda: stub.IssueToken(pb.IssueTokenRequest(), metadata=admin(), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in error.details()
    ids = {directory.person(f"P{i}", "rep").id for i in range(5)}
    seen, token = [], ""
    while True:
        page = stub.ListUsers(pb.ListUsersRequest(page_size=2, page_token=token), metadata=admin(), timeout=T)
        assert len(page.users) <= 2
        seen += [u.id for u in page.users]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


def test_export_and_import_restore_working_tokens(gw, suite):
    channel, pb, stub, directory = gw
    team = directory.team("Export")
    ivy = directory.person("Ivy", "manager", team.id)
    records = [r.record for r in stub.ExportDirectory(pb.ExportDirectoryRequest(include_tokens=True),
                                                      metadata=admin(), timeout=T)]
    kinds = [("team" if r.HasField("team") else "user" if r.HasField("user") else "token")
             for r in records]
    assert kinds == ["team", "user", "token"]
    # Only the SHA-256 of a secret is stored and exported, never the secret.
    assert records[2].token.token_hash == hashlib.sha256(ivy.token.encode()).hexdigest()
    assert ivy.token not in str(records)

    # Restore into a brand-new gateway: the token keeps working there.
    suite.stop("gateway")
    (suite.directory / "gateway.sqlite").unlink()
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    stub = type(stub)(suite.channel("gateway"))
    error = code_of(lambda: stub.WhoAmI(pb.WhoAmIRequest(), metadata=ivy.md(), timeout=T))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    requests = [pb.ImportDirectoryRequest(record=r) for r in records] + [pb.ImportDirectoryRequest(record=pb.DirectoryExportRecord())]
    result = stub.ImportDirectory(iter(requests), metadata=admin(), timeout=T)
    assert (result.imported, result.unchanged, result.failed) == (3, 0, 1)
    assert "exactly one" in result.results[3].message
    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=ivy.md(), timeout=T)
    assert me.user == ivy.user and me.team.id == team.id
    again = stub.ImportDirectory(iter(requests[:3]), metadata=admin(), timeout=T)
    assert (again.imported, again.unchanged, again.failed) == (0, 3, 0)
    error = code_of(lambda: stub.ImportDirectory(iter(requests[:1]), metadata=ivy.md(), timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


# ---------------------------------------------------------------- pass-through routing

def test_pass_through_forwards_identity_metadata_status_and_trailers(gw, suite):
    channel, pb, stub, directory = gw
    team = directory.team("Route")
    jo = directory.person("Jo", "rep", team.id)
    backend = FakeBackend(suite.address("tickets")).start()
    try:
        body = b"\x0a\x05tk-42"  # GetTicketRequest{ticket_id: "tk-42"}, never decoded by the gateway
        call = raw(channel, "/crm.tickets.v1.TicketService/GetTicket")
        metadata = jo.md(("x-request-tag", "abc"), ("x-crm-user", "mallory"), ("x-crm-role", "admin"),
                         ("x-crm-service-token", "forged"), ("trace-bin", b"\x01\x02"))
        response, info = call.with_call(body, metadata=metadata, timeout=T)
        assert response == body
        seen = backend.last("GetTicket")
        assert seen.requests == [body]
        md = seen.metadata
        assert (md["x-crm-user"], md["x-crm-role"], md["x-crm-team"]) == (jo.id, "rep", team.id)
        assert md["x-crm-service-token"] == SERVICE_TOKEN
        assert "authorization" not in md and md["x-request-tag"] == "abc" and md["trace-bin"] == b"\x01\x02"
        assert ("x-fake-initial", "i1") in info.initial_metadata()
        trailers = dict(info.trailing_metadata())
        assert trailers["x-fake-trailer"] == "t1" and trailers["x-fake-trailer-bin"] == b"\xff\x00"

        # The backend's status, message and trailers come back unchanged.
        error = code_of(lambda: raw(channel, "/crm.tickets.v1.TicketService/Fail")(body, metadata=jo.md(), timeout=T))
        assert error.code() == grpc.StatusCode.NOT_FOUND and error.details() == "ticket tk-9 not found (fake)"
        trailers = dict(error.trailing_metadata())
        assert trailers["x-fake-error"] == "e1" and trailers["x-fake-error-bin"] == b"\x00\x01"

        # Unknown packages are not routed; the events package stays internal.
        for path in ("/crm.nope.v1.X/Y", "/crm.events.v1.EventSink/Deliver", "/crm.tickets.v1./Fail",
                     "/crm.tickets.v1.Ticket.Service/Fail", "/crm.tickets.v2.TicketService/Fail", "/crm.tickets/Fail"):
            error = code_of(lambda: raw(channel, path)(b"", metadata=jo.md(), timeout=T))
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        backend.stop()


def test_deadline_reaches_the_service_as_less(gw, suite, tmp_path):
    channel, pb, stub, directory = gw
    kim = directory.person("Kim", "rep")
    backend = FakeBackend(suite.address("tickets")).start()
    try:
        # A stock client with exactly `grpc-timeout: 50m` (grpcio rounds its timeouts up to whole
        # milliseconds, so nghttp sends the header as written): the service sees less than 50 ms.
        body = tmp_path / "request.bin"
        body.write_bytes(b"\x00\x00\x00\x00\x00")  # one empty message, gRPC-framed
        result = subprocess.run(
            ["nghttp", "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "grpc-timeout: 50m",
             "-H", f"authorization: Bearer {kim.token}", "-d", str(body),
             f"http://{suite.address('gateway')}/crm.tickets.v1.TicketService/GetTicket"],
            capture_output=True, timeout=20)
        assert result.returncode == 0, result.stderr
        remaining = backend.last("GetTicket").time_remaining
        assert remaining is not None and 0 < remaining < 0.05, remaining
        # grpcio's own 50 ms deadline reaches the service too (within grpc-core's 1 ms rounding).
        raw(channel, "/crm.tickets.v1.TicketService/GetTicket")(b"", metadata=kim.md(), timeout=0.05)
        assert 0 < backend.last("GetTicket").time_remaining < 0.051
        raw(channel, "/crm.tickets.v1.TicketService/GetTicket")(b"", metadata=kim.md())
        remaining = backend.last("GetTicket").time_remaining  # no deadline: none invented
        assert remaining is None or remaining > 1e6, remaining
        # When the deadline passes, the gateway gives up on the backend call too.
        error = code_of(lambda: raw(channel, "/crm.tickets.v1.TicketService/Slow")(b"", metadata=kim.md(), timeout=0.2))
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        slow = wait_until(lambda: (lambda s: s if s.cancelled_after is not None else None)(backend.last("Slow")), timeout=5)
        assert 0 < slow.time_remaining < 0.201 and slow.cancelled_after < 1.5, slow
    finally:
        backend.stop()


def test_streaming_shapes_pass_through(gw, suite):
    channel, pb, stub, directory = gw
    lee = directory.person("Lee", "rep")
    backend = FakeBackend(suite.address("tickets")).start()
    try:
        big = bytes(range(256)) * 4096  # 1 MiB messages: flow control on both hops, both directions
        responses = raw(channel, "/crm.tickets.v1.TicketService/Stream", "server")(big, metadata=lee.md(), timeout=T)
        assert list(responses) == [big] * 3
        assert ("x-fake-initial", "stream") in responses.initial_metadata()
        assert ("x-fake-trailer", "stream-end") in responses.trailing_metadata()

        count = raw(channel, "/crm.tickets.v1.TicketService/Collect", "client")(
            iter([b"1", big, b"", b"4"]), metadata=lee.md(), timeout=T)
        assert count == b"4"
        assert backend.last("Collect").requests == [b"1", big, b"", b"4"]

        chat = raw(channel, "/crm.tickets.v1.TicketService/Chat", "bidi")(
            iter([b"x", b"y", b"z"]), metadata=lee.md(), timeout=T)
        assert list(chat) == [b"x", b"y", b"z"]
    finally:
        backend.stop()


def test_backend_down_is_unavailable_quickly_and_recovers(gw, suite):
    channel, pb, stub, directory = gw
    max_ = directory.person("Max", "rep")
    call = raw(channel, "/crm.tickets.v1.TicketService/GetTicket")
    started = time.monotonic()
    error = code_of(lambda: call(b"", metadata=max_.md(), timeout=T))
    assert error.code() == grpc.StatusCode.UNAVAILABLE and "crm-tickets" in error.details()
    assert time.monotonic() - started < 2.0

    from grpc.health.v1 import health_pb2, health_pb2_grpc
    health = health_pb2_grpc.HealthStub(channel)
    backends = {b.backend: b for b in stub.ListBackends(pb.ListBackendsRequest(), metadata=max_.md(), timeout=T).backends}
    assert backends[pb.BACKEND_TICKETS].health == pb.BACKEND_HEALTH_UNREACHABLE
    assert backends[pb.BACKEND_TICKETS].address == suite.address("tickets")
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=T).status == health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="crm.tickets.v1.TicketService"),
                        timeout=T).status == health_pb2.HealthCheckResponse.NOT_SERVING

    backend = FakeBackend(suite.address("tickets")).start()
    try:
        assert wait_until(lambda: call(b"ok", metadata=max_.md(), timeout=T) == b"ok", timeout=8)
        wait_until(lambda: health.Check(health_pb2.HealthCheckRequest(service="crm.tickets.v1.TicketService"),
                                        timeout=T).status == health_pb2.HealthCheckResponse.SERVING, timeout=8)
    finally:
        backend.stop()


# ---------------------------------------------------------------- combined views without backends

def test_views_answer_partial_results_naming_every_missing_source(gw, suite):
    channel, pb, stub, directory = gw
    team = directory.team("Views")
    boss = directory.person("Boss", "manager", team.id)
    rep = directory.person("Rae", "rep", team.id)
    outsider = directory.person("Out", "rep", directory.team("Elsewhere").id)

    overview = stub.CustomerOverview(pb.CustomerOverviewRequest(customer_id="cus_1"), metadata=rep.md(), timeout=T)
    assert not overview.complete and not overview.HasField("customer")
    sections = {(e.backend, e.section) for e in overview.errors}
    assert {(pb.BACKEND_CUSTOMERS, "customer"), (pb.BACKEND_CUSTOMERS, "contacts"),
            (pb.BACKEND_OPPORTUNITIES, "open_opportunities"), (pb.BACKEND_TICKETS, "open_tickets")} <= sections
    assert all(e.code == 14 and e.code_name == "UNAVAILABLE" for e in overview.errors)

    day = stub.MyDay(pb.MyDayRequest(), metadata=rep.md(), timeout=T)
    assert day.user_id == rep.id and not day.complete
    assert {e.section for e in day.errors} == {"leads_to_activate", "due_tasks", "focus_customers",
                                               "focus_opportunities", "at_risk", "tickets_due"}
    # A manager may see a team member's day; a rep only their own.
    assert stub.MyDay(pb.MyDayRequest(user_id=rep.id), metadata=boss.md(), timeout=T).user_id == rep.id
    for caller, target in ((rep, boss.id), (outsider, rep.id)):
        error = code_of(lambda: stub.MyDay(pb.MyDayRequest(user_id=target), metadata=caller.md(), timeout=T))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    review = stub.PipelineReview(pb.PipelineReviewRequest(), metadata=boss.md(), timeout=T)
    assert review.team_id == team.id and review.period == "2026-01" and not review.complete
    assert {e.section for e in review.errors} == {"review", "completion", "forecast", "at_risk"}
    error = code_of(lambda: stub.PipelineReview(pb.PipelineReviewRequest(team_id=team.id), metadata=outsider.md(), timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = code_of(lambda: stub.PipelineReview(pb.PipelineReviewRequest(period="2026-13", currency="eur"),
                                                metadata=boss.md(), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "period:" in error.details() and "currency:" in error.details()
    error = code_of(lambda: stub.CustomerOverview(pb.CustomerOverviewRequest(timeline_limit=-1), metadata=rep.md(), timeout=T))
    assert "customer_id: required" in error.details() and "timeline_limit:" in error.details()
