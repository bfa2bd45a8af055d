"""crm-tickets (issue 6, R9 after-sales line) driven over gRPC with stock grpcio stubs.

Every test starts the real crm-tickets executable with its own SQLite file and the shared test
clock (suite.py), so time-dependent rules (SLA near / breached) are driven by moving the clock and
calling RunSweep, never by sleeping. Peers that are not started (crm-customers, the gateway) are
unreachable, which crm-tickets must survive: it then works from what it knows locally.

Events (DEAL_WON in, TICKET_* out) are covered in test_tickets_events.py.
"""

from __future__ import annotations

import grpc
import pytest

from suite import DAY_MS, HOUR_MS, START_MS, identity, system_identity

MINUTE_MS = 60_000
TIMEOUT = 10


class Tickets:
    """A thin client of crm.tickets.v1.TicketService for one suite, calling as a given user."""

    def __init__(self, suite, address: str | None = None):
        from crm.tickets.v1 import tickets_pb2, tickets_pb2_grpc

        self.pb = tickets_pb2
        channel = grpc.insecure_channel(address) if address else suite.channel("tickets")
        if address:
            suite.channels.append(channel)
        self.stub = tickets_pb2_grpc.TicketServiceStub(channel)

    def call(self, method: str, request, who=None, timeout=TIMEOUT):
        who = who if who is not None else identity("u1", "rep", "team-a")
        return getattr(self.stub, method)(request, metadata=who, timeout=timeout)

    def create(self, who=None, **fields):
        pb = self.pb
        fields.setdefault("kind", pb.TICKET_KIND_SERVICE_REQUEST)
        fields.setdefault("customer_id", "cus_1")
        fields.setdefault("title", "Printer jams on every second page")
        return self.call("CreateTicket", pb.CreateTicketRequest(**fields), who).ticket

    def get(self, ticket_id, who=None, **flags):
        return self.call("GetTicket", self.pb.GetTicketRequest(ticket_id=ticket_id, **flags), who)

    def move(self, ticket, to_status, who=None, **fields):
        request = self.pb.UpdateTicketStatusRequest(ticket_id=ticket.id, version=ticket.version,
                                                    to_status=to_status, **fields)
        return self.call("UpdateTicketStatus", request, who).ticket

    def list(self, who=None, **filters):
        return self.call("ListTickets", self.pb.ListTicketsRequest(**filters), who)

    def sweep(self, who=None):
        return self.call("RunSweep", self.pb.RunSweepRequest(), who or identity("admin1", "admin", "hq"))


def rpc_error(fn, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.fixture
def tickets(suite):
    suite.start("tickets")
    return Tickets(suite)


def test_health_answers_for_each_hosted_service_without_a_token(suite, tickets):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(suite.channel("tickets"))
    for service in ("", "crm.tickets.v1.TicketService", "crm.events.v1.EventSink"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service


# --------------------------------------------------------------------------------------------
# Creating tickets: validation, defaults, idempotency, persistence
# --------------------------------------------------------------------------------------------


def test_create_service_request_defaults_replay_and_restart(suite, tickets):
    pb = tickets.pb
    first = tickets.call("CreateTicket", pb.CreateTicketRequest(
        request_id="req-1", kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id="cus_1",
        title="Printer jams", details="Since the firmware update"))
    t = first.ticket
    assert not first.replayed
    assert t.id.startswith("tkt_") and t.version == 1
    assert t.status == pb.TICKET_STATUS_OPEN
    assert t.priority == pb.TICKET_PRIORITY_NORMAL
    assert t.origin == pb.TICKET_ORIGIN_CUSTOMER_REQUEST
    # crm-customers is down: the customer's owner is unknown, so the caller owns the request.
    assert (t.owner_id, t.team_id, t.created_by) == ("u1", "team-a", "u1")
    assert t.created_at_ms == START_MS
    # NORMAL targets: response 8 h, resolution 5 days; the due date defaults to the resolution target.
    assert t.sla.response_due_ms == START_MS + 8 * HOUR_MS
    assert t.sla.resolution_due_ms == START_MS + 5 * DAY_MS
    assert t.due_ms == t.sla.resolution_due_ms
    assert t.sla.response_state == pb.SLA_STATE_ON_TRACK and not t.sla.breached

    # The same request_id again returns the first result and creates nothing.
    again = tickets.call("CreateTicket", pb.CreateTicketRequest(
        request_id="req-1", kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id="cus_1",
        title="Printer jams", details="Since the firmware update"))
    assert again.replayed and again.ticket.id == t.id
    assert len(tickets.list().tickets) == 1
    # Reusing the key for a different request is refused.
    err = rpc_error(tickets.call, "CreateTicket", pb.CreateTicketRequest(
        request_id="req-1", kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id="cus_1", title="Other"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "request_id" in err.details()
    assert len(tickets.list().tickets) == 1

    # Persisted across a restart (SIGTERM must exit 0; the fixture checks it).
    suite.stop("tickets")
    suite.start("tickets")
    restarted = Tickets(suite)
    assert restarted.get(t.id).ticket == t
    replay = restarted.call("CreateTicket", pb.CreateTicketRequest(
        request_id="req-1", kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id="cus_1",
        title="Printer jams", details="Since the firmware update"))
    assert replay.replayed and replay.ticket.id == t.id
    assert len(restarted.list().tickets) == 1

    # A replay is answered as the first call was, even once its due date has passed.
    dated = pb.CreateTicketRequest(request_id="req-2", kind=pb.TICKET_KIND_TRAINING, customer_id="cus_1",
                                   title="Train the night shift", due_ms=suite.clock.now_ms + 2 * HOUR_MS)
    first_dated = restarted.call("CreateTicket", dated).ticket
    suite.clock.advance(hours=3)
    late = restarted.call("CreateTicket", dated)
    assert late.replayed and late.ticket == first_dated
    assert len(restarted.list().tickets) == 2


def test_invalid_create_names_every_field(tickets):
    pb = tickets.pb
    err = rpc_error(tickets.call, "CreateTicket", pb.CreateTicketRequest(
        priority=42, due_ms=START_MS - HOUR_MS, origin=pb.TICKET_ORIGIN_ONBOARDING))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("kind", "customer_id", "title", "priority", "due_ms", "origin"):
        assert f"{field}:" in err.details(), (field, err.details())
    assert tickets.list().tickets == []

    # A rep may not open a ticket for somebody else (unless it is the customer's owner).
    err = rpc_error(tickets.create, owner_id="u9")
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "owner_id" in err.details()

    # Identity is required, and the service token.
    err = rpc_error(tickets.create, who=system_identity())
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = rpc_error(tickets.create, who=identity("u1", token="wrong"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    # Garbage in every field never crashes the process nor answers INTERNAL.
    for request in (pb.CreateTicketRequest(kind=999, customer_id="\x00" * 300, title="x" * 5000, due_ms=-5),
                    pb.CreateTicketRequest(kind=1, customer_id="c", title="t", due_ms=2**62)):
        err = rpc_error(tickets.call, "CreateTicket", request)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(tickets.call, "ListTickets", pb.ListTicketsRequest(page_token="%%%not-base64"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()
    err = rpc_error(tickets.call, "GetTicket", pb.GetTicketRequest())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "ticket_id" in err.details()


# --------------------------------------------------------------------------------------------
# Status lifecycle: allowed moves, reasons, version checks, history
# --------------------------------------------------------------------------------------------


def test_status_moves_follow_the_lifecycle(suite, tickets):
    pb = tickets.pb
    t = tickets.create(priority=pb.TICKET_PRIORITY_HIGH)

    err = rpc_error(tickets.move, t, pb.TICKET_STATUS_CLOSED)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details().startswith("R9:") and "OPEN" in err.details() and "CLOSED" in err.details()
    err = rpc_error(tickets.move, t, pb.TICKET_STATUS_OPEN)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "R9" in err.details()
    err = rpc_error(tickets.move, t, pb.TICKET_STATUS_RESOLVED)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "resolution" in err.details()
    err = rpc_error(tickets.move, t, pb.TICKET_STATUS_WAITING_ON_CUSTOMER)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "reason" in err.details()
    err = rpc_error(tickets.move, t, 77)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "to_status" in err.details()
    # Nothing of the refused moves was written.
    assert tickets.get(t.id).ticket == t

    suite.clock.advance(hours=1)
    started = tickets.move(t, pb.TICKET_STATUS_IN_PROGRESS)
    assert started.version == 2 and started.status == pb.TICKET_STATUS_IN_PROGRESS
    # Leaving OPEN is the first response.
    assert started.sla.first_response_at_ms == START_MS + HOUR_MS
    assert started.sla.response_state == pb.SLA_STATE_MET

    # A move based on an old version is ABORTED, naming the current one.
    err = rpc_error(tickets.move, t, pb.TICKET_STATUS_WAITING_ON_CUSTOMER, reason="need logs")
    assert err.code() == grpc.StatusCode.ABORTED and "version 2" in err.details()

    waiting = tickets.move(started, pb.TICKET_STATUS_WAITING_ON_CUSTOMER, reason="need logs")
    suite.clock.advance(days=3)  # longer than HIGH's 2-day resolution target, but paused
    assert tickets.get(t.id).ticket.sla.resolution_state != pb.SLA_STATE_BREACHED
    assert tickets.sweep().newly_breached_ticket_ids == []
    resumed = tickets.move(waiting, pb.TICKET_STATUS_IN_PROGRESS)
    assert resumed.sla.paused_ms == 3 * DAY_MS
    assert resumed.sla.resolution_due_ms == t.sla.resolution_due_ms + 3 * DAY_MS
    assert resumed.sla.resolution_state == pb.SLA_STATE_ON_TRACK

    resolved = tickets.move(resumed, pb.TICKET_STATUS_RESOLVED, resolution="Replaced the fuser")
    assert resolved.resolution == "Replaced the fuser" and resolved.resolved_at_ms == suite.clock.now_ms
    assert resolved.sla.resolution_state == pb.SLA_STATE_MET
    closed = tickets.move(resolved, pb.TICKET_STATUS_CLOSED)
    assert closed.closed_at_ms == suite.clock.now_ms

    err = rpc_error(tickets.move, closed, pb.TICKET_STATUS_RESOLVED, resolution="again")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "CLOSED" in err.details()
    err = rpc_error(tickets.move, closed, pb.TICKET_STATUS_IN_PROGRESS)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "reason" in err.details()
    reopened = tickets.move(closed, pb.TICKET_STATUS_IN_PROGRESS, reason="jams again")
    assert reopened.reopen_count == 1 and reopened.resolved_at_ms == 0 and reopened.closed_at_ms == 0

    history = tickets.get(t.id, include_history=True).history
    assert [(h.from_status, h.to_status) for h in history] == [
        (pb.TICKET_STATUS_UNSPECIFIED, pb.TICKET_STATUS_OPEN),
        (pb.TICKET_STATUS_OPEN, pb.TICKET_STATUS_IN_PROGRESS),
        (pb.TICKET_STATUS_IN_PROGRESS, pb.TICKET_STATUS_WAITING_ON_CUSTOMER),
        (pb.TICKET_STATUS_WAITING_ON_CUSTOMER, pb.TICKET_STATUS_IN_PROGRESS),
        (pb.TICKET_STATUS_IN_PROGRESS, pb.TICKET_STATUS_RESOLVED),
        (pb.TICKET_STATUS_RESOLVED, pb.TICKET_STATUS_CLOSED),
        (pb.TICKET_STATUS_CLOSED, pb.TICKET_STATUS_IN_PROGRESS),
    ]
    assert history[-1].reason == "jams again" and history[-1].actor_id == "u1"


def test_return_visit_close_needs_its_outcome(tickets):
    pb = tickets.pb
    visit = tickets.create(kind=pb.TICKET_KIND_RETURN_VISIT, title="30-day return visit")
    resolved = tickets.move(visit, pb.TICKET_STATUS_RESOLVED, resolution="Visited on site")
    err = rpc_error(tickets.move, resolved, pb.TICKET_STATUS_CLOSED)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details().startswith("R9:") and "return_visit" in err.details()
    err = rpc_error(tickets.move, resolved, pb.TICKET_STATUS_CLOSED,
                    return_visit=pb.ReturnVisitOutcome(satisfaction=9))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "return_visit.satisfaction" in err.details()
    closed = tickets.move(resolved, pb.TICKET_STATUS_CLOSED, return_visit=pb.ReturnVisitOutcome(
        satisfaction=4, repurchase_opportunity=True, repurchase_note="second line",
        repurchase_estimate_cents=1_500_000, currency="EUR"))
    assert closed.return_visit.satisfaction == 4 and closed.return_visit.repurchase_opportunity

    # An outcome belongs to return visits only.
    other = tickets.create(kind=pb.TICKET_KIND_TRAINING, title="Training")
    other = tickets.move(other, pb.TICKET_STATUS_RESOLVED, resolution="done")
    err = rpc_error(tickets.move, other, pb.TICKET_STATUS_CLOSED, return_visit=pb.ReturnVisitOutcome(satisfaction=3))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "return_visit" in err.details()

    report = tickets.call("SlaReport", pb.SlaReportRequest(group_by=pb.SLA_GROUP_BY_KIND))
    visits = [row for row in report.rows if row.kind == pb.TICKET_KIND_RETURN_VISIT]
    assert len(visits) == 1 and visits[0].average_satisfaction == 4.0


def test_comments_are_idempotent_and_count_as_first_response(suite, tickets):
    pb = tickets.pb
    t = tickets.create()
    internal = tickets.call("AddComment", pb.AddCommentRequest(
        request_id="c1", ticket_id=t.id, body="checked the logs", internal_only=True))
    assert internal.ticket.sla.first_response_at_ms == 0  # internal notes are not a response
    suite.clock.advance(hours=2)
    reply = tickets.call("AddComment", pb.AddCommentRequest(request_id="c2", ticket_id=t.id, body="We are on it"))
    assert reply.ticket.sla.first_response_at_ms == START_MS + 2 * HOUR_MS
    assert reply.ticket.version == t.version  # comments do not conflict with edits
    again = tickets.call("AddComment", pb.AddCommentRequest(request_id="c2", ticket_id=t.id, body="We are on it"))
    assert again.replayed and again.comment.id == reply.comment.id
    got = tickets.get(t.id, include_comments=True)
    assert [c.body for c in got.comments] == ["checked the logs", "We are on it"]
    assert got.ticket.comment_count == 2
    err = rpc_error(tickets.call, "AddComment", pb.AddCommentRequest(ticket_id=t.id, body="   "))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "body" in err.details()


# --------------------------------------------------------------------------------------------
# SLA: flags follow the injected clock; ListDue; SlaReport
# --------------------------------------------------------------------------------------------


def test_sla_flags_appear_as_the_clock_advances(suite, tickets):
    pb = tickets.pb
    urgent = tickets.create(priority=pb.TICKET_PRIORITY_URGENT, title="Line down")  # response 1 h, warn 30 min
    calm = tickets.create(priority=pb.TICKET_PRIORITY_LOW, title="Paint scratch")   # response 1 day

    assert tickets.sweep().newly_near_ticket_ids == []
    assert tickets.list(breached_only=True).tickets == []

    suite.clock.advance(ms=35 * MINUTE_MS)
    sweep = tickets.sweep()
    assert list(sweep.newly_near_ticket_ids) == [urgent.id] and sweep.newly_breached_ticket_ids == []
    assert sweep.swept_at_ms == suite.clock.now_ms
    assert tickets.get(urgent.id).ticket.sla.response_state == pb.SLA_STATE_NEAR
    due = tickets.call("ListDue", pb.ListDueRequest()).tickets
    assert due[0].ticket.id == urgent.id
    assert (due[0].due_kind, due[0].state) == (pb.DUE_KIND_SLA_RESPONSE, pb.SLA_STATE_NEAR)
    assert due[0].due_at_ms == START_MS + HOUR_MS

    suite.clock.advance(ms=30 * MINUTE_MS)  # 65 minutes: response target passed
    sweep = tickets.sweep()
    assert list(sweep.newly_breached_ticket_ids) == [urgent.id]
    assert tickets.sweep().newly_breached_ticket_ids == []  # reported once
    got = tickets.get(urgent.id).ticket
    assert got.sla.response_state == pb.SLA_STATE_BREACHED and got.sla.breached
    assert got.version == urgent.version  # the clock does not bump versions
    due = tickets.call("ListDue", pb.ListDueRequest()).tickets
    assert (due[0].ticket.id, due[0].due_kind, due[0].state) == (urgent.id, pb.DUE_KIND_SLA_RESPONSE, pb.SLA_STATE_BREACHED)
    assert [t.id for t in tickets.list(breached_only=True).tickets] == [urgent.id]
    assert calm.id not in [d.ticket.id for d in due]  # LOW: nothing due today, nothing near

    # A late answer does not undo the breach.
    tickets.call("AddComment", pb.AddCommentRequest(ticket_id=urgent.id, body="Engineer on the way"))
    assert tickets.get(urgent.id).ticket.sla.response_state == pb.SLA_STATE_BREACHED

    # Breaches are counted per owner and per team.
    by_owner = tickets.call("SlaReport", pb.SlaReportRequest(group_by=pb.SLA_GROUP_BY_OWNER),
                            identity("m1", "manager", "team-a"))
    row = next(r for r in by_owner.rows if r.owner_id == "u1")
    assert (row.opened, row.response_breached, row.open_breached_now, row.response_met) == (2, 1, 1, 0)
    assert row.breach_rate == 0.5 and row.median_first_response_ms == 65 * MINUTE_MS
    by_team = tickets.call("SlaReport", pb.SlaReportRequest(group_by=pb.SLA_GROUP_BY_TEAM),
                           identity("admin1", "admin", "hq"))
    assert [(r.team_id, r.open_breached_now) for r in by_team.rows] == [("team-a", 1)]
    assert by_team.total.opened == 2

    # The resolution target (8 h) passes too, and then the LOW ticket's response target (1 day).
    suite.clock.set(START_MS + 8 * HOUR_MS)
    assert list(tickets.sweep().newly_breached_ticket_ids) == [urgent.id]
    assert tickets.get(urgent.id).ticket.sla.resolution_state == pb.SLA_STATE_BREACHED
    suite.clock.set(START_MS + DAY_MS)
    assert list(tickets.sweep().newly_breached_ticket_ids) == [calm.id]

    # Sweeping is an admin (or system) action.
    err = rpc_error(tickets.sweep, identity("u1", "rep", "team-a"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert tickets.call("RunSweep", pb.RunSweepRequest(), system_identity()).swept_at_ms == suite.clock.now_ms


def test_list_due_covers_due_dates_and_respects_owner(suite, tickets):
    pb = tickets.pb
    tomorrow = tickets.create(due_ms=START_MS + DAY_MS + HOUR_MS, title="Tomorrow")
    today = tickets.create(due_ms=START_MS + 5 * HOUR_MS, title="Today")
    tickets.create(title="Somebody else's", who=identity("u2", "rep", "team-a"))
    due = tickets.call("ListDue", pb.ListDueRequest()).tickets
    assert [(d.ticket.id, d.due_kind, d.state) for d in due] == [(today.id, pb.DUE_KIND_DUE_DATE, pb.SLA_STATE_ON_TRACK)]
    later = tickets.call("ListDue", pb.ListDueRequest(until_ms=START_MS + 2 * DAY_MS)).tickets
    assert [d.ticket.id for d in later] == [today.id, tomorrow.id]

    suite.clock.advance(hours=6)
    due = tickets.call("ListDue", pb.ListDueRequest()).tickets
    assert (due[0].ticket.id, due[0].due_kind, due[0].state) == (today.id, pb.DUE_KIND_DUE_DATE, pb.SLA_STATE_BREACHED)

    # Pages of one, in order, without repeats.
    seen, token = [], ""
    while True:
        page = tickets.call("ListDue", pb.ListDueRequest(until_ms=START_MS + 2 * DAY_MS, page_size=1, page_token=token))
        seen += [d.ticket.id for d in page.tickets]
        token = page.next_page_token
        if not token:
            break
    assert seen == [today.id, tomorrow.id]

    # A rep's due list is their own; a manager may look at the team's.
    err = rpc_error(tickets.call, "ListDue", pb.ListDueRequest(owner_id="u2"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    team = tickets.call("ListDue", pb.ListDueRequest(team_id="team-a", until_ms=START_MS + 10 * DAY_MS),
                        identity("m1", "manager", "team-a")).tickets
    assert {d.ticket.owner_id for d in team} == {"u1", "u2"}
    err = rpc_error(tickets.call, "ListDue", pb.ListDueRequest(team_id="team-a"), identity("m2", "manager", "team-b"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


# --------------------------------------------------------------------------------------------
# Visibility
# --------------------------------------------------------------------------------------------


def test_a_rep_cannot_see_another_teams_tickets(tickets):
    pb = tickets.pb
    mine = tickets.create(title="Team A ticket")
    outsider = identity("u2", "rep", "team-b")
    other_manager = identity("m2", "manager", "team-b")
    teammate = identity("u3", "rep", "team-a")

    missing = rpc_error(tickets.get, "tkt_does_not_exist", outsider)
    for who in (outsider, other_manager, teammate):
        err = rpc_error(tickets.get, mine.id, who)
        assert err.code() == grpc.StatusCode.NOT_FOUND
        # Exactly like a ticket that does not exist.
        assert err.details() == missing.details().replace("tkt_does_not_exist", mine.id)
        assert tickets.list(who).tickets == []
        assert tickets.list(who, customer_id="cus_1").tickets == []
        err = rpc_error(tickets.move, mine, pb.TICKET_STATUS_IN_PROGRESS, who)
        assert err.code() == grpc.StatusCode.NOT_FOUND
        err = rpc_error(tickets.call, "AddComment", pb.AddCommentRequest(ticket_id=mine.id, body="peek"), who)
        assert err.code() == grpc.StatusCode.NOT_FOUND
        err = rpc_error(tickets.call, "UpdateTicket", pb.UpdateTicketRequest(ticket_id=mine.id, version=1, title="x"), who)
        assert err.code() == grpc.StatusCode.NOT_FOUND
    # Nothing was changed by the refused calls.
    assert tickets.get(mine.id).ticket == mine

    # The team's manager and an admin see it.
    assert tickets.get(mine.id, identity("m1", "manager", "team-a")).ticket.id == mine.id
    assert [t.id for t in tickets.list(identity("admin1", "admin", "hq")).tickets] == [mine.id]

    # Reassignment: not by a rep; by the team's manager with a reason; then the new owner sees it.
    err = rpc_error(tickets.call, "UpdateTicket", pb.UpdateTicketRequest(
        ticket_id=mine.id, version=1, owner_id="u3", reason="holiday"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = rpc_error(tickets.call, "UpdateTicket", pb.UpdateTicketRequest(ticket_id=mine.id, version=1, owner_id="u3"),
                    identity("m1", "manager", "team-a"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in err.details()
    moved = tickets.call("UpdateTicket", pb.UpdateTicketRequest(
        ticket_id=mine.id, version=1, owner_id="u3", reason="u1 on holiday"), identity("m1", "manager", "team-a")).ticket
    assert (moved.owner_id, moved.team_id, moved.version) == ("u3", "team-a", 2)
    assert tickets.get(mine.id, teammate).ticket.owner_id == "u3"
    assert rpc_error(tickets.get, mine.id).code() == grpc.StatusCode.NOT_FOUND


def test_update_ticket_versions_and_priority_retargets_sla(tickets):
    pb = tickets.pb
    t = tickets.create()
    updated = tickets.call("UpdateTicket", pb.UpdateTicketRequest(
        ticket_id=t.id, version=1, priority=pb.TICKET_PRIORITY_URGENT, title="Line down")).ticket
    assert (updated.version, updated.priority, updated.title) == (2, pb.TICKET_PRIORITY_URGENT, "Line down")
    assert updated.sla.response_due_ms == START_MS + HOUR_MS
    err = rpc_error(tickets.call, "UpdateTicket", pb.UpdateTicketRequest(ticket_id=t.id, version=1, title="Stale"))
    assert err.code() == grpc.StatusCode.ABORTED and "version 2" in err.details()
    err = rpc_error(tickets.call, "UpdateTicket", pb.UpdateTicketRequest(ticket_id=t.id, version=2, title="",
                                                                         due_ms=-1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "title:" in err.details() and "due_ms:" in err.details()


def test_list_tickets_filters_and_paginates(suite, tickets):
    pb = tickets.pb
    created = []
    for i in range(5):
        created.append(tickets.create(customer_id=f"cus_{i % 2}", title=f"T{i}",
                                      kind=pb.TICKET_KIND_DELIVERY if i % 2 else pb.TICKET_KIND_SERVICE_REQUEST))
        suite.clock.advance(ms=1000)
    seen, token = [], ""
    while True:
        page = tickets.list(page_size=2, page_token=token)
        assert len(page.tickets) <= 2
        seen += [t.id for t in page.tickets]
        token = page.next_page_token
        if not token:
            break
    assert seen == [t.id for t in created]
    newest_first = [t.id for t in tickets.list(descending=True).tickets]
    assert newest_first == [t.id for t in reversed(created)]
    deliveries = tickets.list(kinds=[pb.TICKET_KIND_DELIVERY]).tickets
    assert [t.id for t in deliveries] == [created[1].id, created[3].id]
    assert [t.id for t in tickets.list(customer_id="cus_0", statuses=[pb.TICKET_STATUS_OPEN]).tickets] == \
        [created[0].id, created[2].id, created[4].id]
    err = rpc_error(tickets.list, kinds=[99], page_size=-1)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kinds[0]" in err.details() and "page_size" in err.details()


# --------------------------------------------------------------------------------------------
# Settings, export and import
# --------------------------------------------------------------------------------------------


def test_settings_are_admin_only_versioned_and_validated(tickets):
    pb = tickets.pb
    admin = identity("admin1", "admin", "hq")
    settings = tickets.call("GetSettings", pb.GetSettingsRequest()).settings
    assert [s.key for s in settings.onboarding_template] == ["delivery", "training", "return_visit", "repurchase_check"]
    assert [s.due_after_days for s in settings.onboarding_template] == [7, 14, 30, 300]

    err = rpc_error(tickets.call, "UpdateSettings", pb.UpdateSettingsRequest(version=settings.version))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = rpc_error(tickets.call, "UpdateSettings", pb.UpdateSettingsRequest(
        version=settings.version, sla_targets=[pb.SlaTarget(priority=pb.TICKET_PRIORITY_NORMAL, response_ms=-1)],
        onboarding_template=[pb.OnboardingStep(key="", kind=0, title="x", due_after_days=-3)]), admin)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("sla_targets[0].response_ms", "sla_targets[0].resolution_ms", "onboarding_template[0].key",
                  "onboarding_template[0].kind", "onboarding_template[0].due_after_days"):
        assert field in err.details(), field

    target = pb.SlaTarget(priority=pb.TICKET_PRIORITY_NORMAL, response_ms=2 * HOUR_MS,
                          resolution_ms=DAY_MS, warn_before_ms=HOUR_MS)
    updated = tickets.call("UpdateSettings", pb.UpdateSettingsRequest(version=settings.version, sla_targets=[target]),
                           admin).settings
    assert updated.version == settings.version + 1
    err = rpc_error(tickets.call, "UpdateSettings", pb.UpdateSettingsRequest(version=settings.version,
                                                                             sla_targets=[target]), admin)
    assert err.code() == grpc.StatusCode.ABORTED
    t = tickets.create()
    assert t.sla.response_due_ms == START_MS + 2 * HOUR_MS and t.sla.resolution_due_ms == START_MS + DAY_MS


def test_export_then_import_restores_tickets_idempotently(suite, tickets, start_process):
    pb = tickets.pb
    admin = identity("admin1", "admin", "hq")
    a = tickets.create(title="A")
    b = tickets.move(tickets.create(title="B"), pb.TICKET_STATUS_RESOLVED, resolution="fixed")
    tickets.call("AddComment", pb.AddCommentRequest(ticket_id=a.id, body="hello"))
    exported = [r.record for r in tickets.stub.ExportTickets(pb.ExportTicketsRequest(), metadata=admin, timeout=TIMEOUT)]
    assert [r.ticket.id for r in exported] == sorted([a.id, b.id])

    from suite import SERVICE_TOKEN
    fresh = start_process("crm-tickets", "--db", str(suite.directory / "restored.sqlite"),
                          "--service-token", SERVICE_TOKEN, "--clock-file", str(suite.clock.path))
    target = Tickets(suite, fresh.address)

    def run_import(records, dry_run=False):
        def requests():
            for i, record in enumerate(records):
                yield pb.ImportTicketsRequest(record=record, dry_run=dry_run and i == 0)
        return target.stub.ImportTickets(requests(), metadata=admin, timeout=TIMEOUT)

    err = rpc_error(target.stub.ImportTickets, iter([pb.ImportTicketsRequest(record=exported[0])]),
                    metadata=identity("u1"), timeout=TIMEOUT)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    dry = run_import(exported, dry_run=True)
    assert [r.status for r in dry.results] == [pb.IMPORT_STATUS_VALID] * 2
    assert target.list(admin).tickets == []
    broken = pb.TicketExportRecord(ticket=pb.Ticket(id="tkt_broken"))
    first = run_import([*exported, broken])
    assert (first.imported, first.unchanged, first.failed) == (2, 0, 1)
    assert "ticket.kind" in first.results[2].message
    again = run_import(exported)
    assert (again.imported, again.unchanged, again.failed) == (0, 2, 0)
    restored = target.get(a.id, include_comments=True)
    assert [c.body for c in restored.comments] == ["hello"]
    assert restored.ticket == tickets.get(a.id).ticket


# --------------------------------------------------------------------------------------------
# Robustness: arbitrary field values never crash the process nor answer INTERNAL
# --------------------------------------------------------------------------------------------


def _fill_randomly(message, rng, depth=0):
    from google.protobuf.descriptor import FieldDescriptor as F

    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.4:
            continue
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == F.LABEL_REPEATED
        for _ in range(rng.randint(1, 3) if repeated else 1):
            if field.type == F.TYPE_MESSAGE:
                if depth > 2:
                    continue
                sub = getattr(message, field.name).add() if repeated else getattr(message, field.name)
                sub.SetInParent()
                _fill_randomly(sub, rng, depth + 1)
                continue
            if field.type == F.TYPE_STRING:
                value = rng.choice(["", " ", "tkt_x", "cus_1", "u1", "\x00", "ü" * 300, "%s'; DROP TABLE tickets;--",
                                    "9" * 40])
            elif field.type == F.TYPE_BOOL:
                value = rng.random() < 0.5
            elif field.type == F.TYPE_ENUM:
                value = rng.choice([0, 1, 2, 3, 4, 5, 99, -1])
            elif field.type == F.TYPE_DOUBLE:
                value = rng.choice([0.0, -1.5, 1e308])
            elif field.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
                value = rng.choice([0, 1, -1, 5, 2**31 - 1, -(2**31)])
            else:
                value = rng.choice([0, 1, -1, START_MS, 2**63 - 1, -(2**63), 86_400_000])
            if repeated:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)
    return message


def test_random_requests_never_crash_or_answer_internal(suite, tickets):
    import random

    rng = random.Random(6)
    pb = tickets.pb
    tickets.create()  # something to find
    callers = [identity("u1", "rep", "team-a"), identity("m1", "manager", "team-a"), identity("admin1", "admin", ""),
               identity("", "manager", "")]
    methods = {"CreateTicket": pb.CreateTicketRequest, "GetTicket": pb.GetTicketRequest,
               "UpdateTicket": pb.UpdateTicketRequest, "ListTickets": pb.ListTicketsRequest,
               "UpdateTicketStatus": pb.UpdateTicketStatusRequest, "AddComment": pb.AddCommentRequest,
               "ListDue": pb.ListDueRequest, "SlaReport": pb.SlaReportRequest, "GetSettings": pb.GetSettingsRequest,
               "UpdateSettings": pb.UpdateSettingsRequest, "RunSweep": pb.RunSweepRequest}
    bad = []
    for round_ in range(25):
        for name, request_class in methods.items():
            request = _fill_randomly(request_class(), rng)
            try:
                tickets.call(name, request, rng.choice(callers))
            except grpc.RpcError as error:
                if error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                                    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    bad.append((name, error.code(), error.details(), request))
    assert bad == []
    suite.processes["tickets"].assert_alive()
    assert tickets.list(identity("admin1", "admin", "hq")).tickets  # still serving, store intact
