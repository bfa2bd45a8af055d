"""crm-tickets and events (issue 6, R9): the won deal opens the onboarding line exactly once; ticket
changes reach crm-customers and crm-leads through the outbox.

Incoming events are delivered to crm-tickets' real `crm.events.v1.EventSink/Deliver` exactly as a
producer's outbox relay does (same envelope, service token, batches, redelivery). Outgoing events
are received by a stock-grpcio EventSink listening on the crm-customers / crm-leads addresses, which
is the interface those consumers implement.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest

from suite import DAY_MS, SERVICE_TOKEN, START_MS, identity, system_identity
from test_tickets import TIMEOUT, Tickets, rpc_error

OWNER = identity("u1", "rep", "team-a")


class CaptureSink:
    """A crm.events.v1.EventSink that records what it is delivered (one per consumer address)."""

    def __init__(self, address: str):
        from crm.events.v1 import events_pb2, events_pb2_grpc

        self.pb = events_pb2
        self.events = []
        self.tokens = set()
        self.lock = threading.Lock()
        outer = self

        class Servicer(events_pb2_grpc.EventSinkServicer):
            def Deliver(self, request, context):
                token = dict(context.invocation_metadata()).get("x-crm-service-token")
                with outer.lock:
                    outer.tokens.add(token)
                    if token != SERVICE_TOKEN:
                        context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
                    seen = {e.event_id for e in outer.events}
                    acks = []
                    for event in request.events:
                        duplicate = event.event_id in seen
                        if not duplicate:
                            outer.events.append(event)
                            seen.add(event.event_id)
                        acks.append(events_pb2.EventAck(
                            event_id=event.event_id,
                            status=events_pb2.ACK_STATUS_DUPLICATE if duplicate else events_pb2.ACK_STATUS_ACCEPTED))
                    return events_pb2.DeliverEventsResponse(acks=acks)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        events_pb2_grpc.add_EventSinkServicer_to_server(Servicer(), self.server)
        self.server.add_insecure_port(address)
        self.server.start()

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                matching = [e for e in self.events if predicate(e)]
            if matching:
                return matching
            time.sleep(0.05)
        with self.lock:
            kinds = [(e.kind, e.ticket_id) for e in self.events]
        pytest.fail(f"no matching event arrived within {timeout} s; got {kinds}")

    def snapshot(self):
        with self.lock:
            return list(self.events)


@pytest.fixture
def sinks(suite):
    """Capturing EventSinks on the crm-customers and crm-leads addresses, started before crm-tickets."""
    customers = CaptureSink(suite.address("customers"))
    leads = CaptureSink(suite.address("leads"))
    yield customers, leads
    customers.server.stop(0)
    leads.server.stop(0)


class Events:
    """Builds events as crm-opportunities / crm-customers would and delivers them to crm-tickets."""

    def __init__(self, suite):
        from crm.events.v1 import events_pb2

        self.pb = events_pb2
        self.suite = suite
        self.sequence = 0

    def stub(self):
        from crm.events.v1 import events_pb2_grpc

        return events_pb2_grpc.EventSinkStub(self.suite.channel("tickets"))

    def deal_won(self, opportunity_id, customer_id="cus_1", owner="u1", team="team-a", event_id=None,
                 occurred_at_ms=None):
        pb = self.pb
        self.sequence += 1
        return pb.Event(
            event_id=event_id or f"evt_won_{opportunity_id}", schema_version=1, kind=pb.EVENT_KIND_DEAL_WON,
            occurred_at_ms=occurred_at_ms or self.suite.clock.now_ms, sequence=self.sequence,
            producer="crm-opportunities", actor_id=owner, actor_team_id=team,
            aggregate_type=pb.AGGREGATE_TYPE_OPPORTUNITY, aggregate_id=opportunity_id, aggregate_version=7,
            opportunity_id=opportunity_id, customer_id=customer_id, team_id=team,
            deal_won=pb.DealWonPayload(title="Fleet renewal", owner_id=owner, team_id=team,
                                       signed_amount_cents=12_000_000, currency="EUR", signed_date="2026-01-05",
                                       contract_document_ref="doc-1", customer_name="Acme GmbH"))

    def deliver(self, events, producer="crm-opportunities", timeout=TIMEOUT):
        response = self.stub().Deliver(self.pb.DeliverEventsRequest(producer=producer, events=events),
                                       metadata=system_identity(), timeout=timeout)
        return [(a.event_id, a.status) for a in response.acks]


def onboarding_line(tickets, opportunity_id, who=OWNER):
    return tickets.list(who, opportunity_id=opportunity_id, page_size=500, sort=tickets.pb.TICKET_SORT_DUE).tickets


def crash(suite, name):
    """SIGKILL a suite process (no graceful shutdown) and tell the fixture it is gone on purpose."""
    process = suite.processes.pop(name)
    process.proc.kill()
    process.proc.wait(5)
    process._running = False  # the fixture would otherwise report "died during the test"


# --------------------------------------------------------------------------------------------
# DEAL_WON -> exactly one onboarding line
# --------------------------------------------------------------------------------------------


def test_won_deal_opens_exactly_one_onboarding_line(suite, sinks):
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    pb, epb = tickets.pb, events.pb
    won = events.deal_won("opp_1")

    assert events.deliver([won]) == [(won.event_id, epb.ACK_STATUS_ACCEPTED)]
    line = onboarding_line(tickets, "opp_1")
    assert [(t.kind, t.template_step) for t in line] == [
        (pb.TICKET_KIND_DELIVERY, "delivery"), (pb.TICKET_KIND_TRAINING, "training"),
        (pb.TICKET_KIND_RETURN_VISIT, "return_visit"), (pb.TICKET_KIND_REPURCHASE, "repurchase_check")]
    assert [t.due_ms for t in line] == [START_MS + d * DAY_MS for d in (7, 14, 30, 300)]
    for t in line:
        assert (t.origin, t.status, t.owner_id, t.team_id) == (pb.TICKET_ORIGIN_ONBOARDING, pb.TICKET_STATUS_OPEN,
                                                              "u1", "team-a")
        assert (t.customer_id, t.customer_name) == ("cus_1", "Acme GmbH")
    # The same event again (lost ack), alone or twice in one batch: acknowledged, not applied again.
    assert events.deliver([won]) == [(won.event_id, epb.ACK_STATUS_DUPLICATE)]
    assert events.deliver([won, won]) == [(won.event_id, epb.ACK_STATUS_DUPLICATE)] * 2
    # Another won event for the same opportunity (e.g. a second producer attempt) opens nothing new.
    other = events.deal_won("opp_1", event_id="evt_won_opp_1_again")
    assert events.deliver([other]) == [(other.event_id, epb.ACK_STATUS_ACCEPTED)]
    assert [t.id for t in onboarding_line(tickets, "opp_1")] == [t.id for t in line]

    # Restarted: the inbox still remembers the event.
    suite.stop("tickets")
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    assert events.deliver([won]) == [(won.event_id, epb.ACK_STATUS_DUPLICATE)]
    assert [t.id for t in onboarding_line(tickets, "opp_1")] == [t.id for t in line]

    # Visibility of the line: the deal owner and the team manager, not another team.
    assert len(onboarding_line(tickets, "opp_1", identity("m1", "manager", "team-a"))) == 4
    assert onboarding_line(tickets, "opp_1", identity("u2", "rep", "team-b")) == []

    # Each onboarding ticket was announced to crm-customers once (timeline, open ticket count).
    customers, leads = sinks
    opened = customers.wait_for(lambda e: e.kind == epb.EVENT_KIND_TICKET_OPENED and e.opportunity_id == "opp_1")
    deadline = time.monotonic() + 5
    while len(opened) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
        opened = [e for e in customers.snapshot() if e.kind == epb.EVENT_KIND_TICKET_OPENED]
    assert sorted(e.ticket_id for e in opened) == sorted(t.id for t in line)
    assert all(e.ticket_opened.origin == pb.TICKET_ORIGIN_ONBOARDING and e.request_id == won.event_id for e in opened)


def test_restart_mid_delivery_still_opens_one_line_per_deal(suite, sinks):
    suite.start("tickets")
    events = Events(suite)
    epb = events.pb
    batch = [events.deal_won(f"opp_{i}", customer_id=f"cus_{i}") for i in range(120)]

    # Part of the batch was applied but its acks were lost when the consumer died.
    assert {s for _, s in events.deliver(batch[:30])} == {epb.ACK_STATUS_ACCEPTED}

    # The producer retries the whole batch; crm-tickets is killed while applying it.
    results = {}

    def deliver_in_background():
        try:
            results["acks"] = events.deliver(batch, timeout=30)
        except grpc.RpcError as error:
            results["error"] = error.code()

    sender = threading.Thread(target=deliver_in_background)
    sender.start()
    time.sleep(0.3)
    crash(suite, "tickets")
    sender.join(30)
    assert not sender.is_alive() and results, "the interrupted delivery neither failed nor finished"

    # Restarted, it gets the whole batch again, as the relay redelivers anything unacknowledged.
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    acks = events.deliver(batch, timeout=60)
    assert [event_id for event_id, _ in acks] == [e.event_id for e in batch]
    statuses = [status for _, status in acks]
    assert set(statuses) <= {epb.ACK_STATUS_ACCEPTED, epb.ACK_STATUS_DUPLICATE}
    assert statuses[:30] == [epb.ACK_STATUS_DUPLICATE] * 30

    admin = identity("admin1", "admin", "hq")
    everything, token = [], ""
    while True:
        page = tickets.list(admin, page_size=500, page_token=token)
        everything += page.tickets
        token = page.next_page_token
        if not token:
            break
    per_deal = {}
    for t in everything:
        per_deal.setdefault(t.opportunity_id, []).append(t.template_step)
    assert len(per_deal) == 120
    assert all(sorted(steps) == ["delivery", "repurchase_check", "return_visit", "training"]
               for steps in per_deal.values())


def test_bad_or_unknown_events_are_rejected_not_applied(suite):
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    epb = events.pb
    broken = events.deal_won("", customer_id="", event_id="evt_broken")
    broken.deal_won.owner_id = ""
    broken.actor_id = ""
    unknown = epb.Event(event_id="evt_unknown", kind=99, producer="crm-opportunities")
    ignored = epb.Event(event_id="evt_stage", kind=epb.EVENT_KIND_STAGE_CHANGED, producer="crm-opportunities",
                        opportunity_id="opp_x")
    response = events.stub().Deliver(epb.DeliverEventsRequest(producer="crm-opportunities",
                                                              events=[broken, unknown, ignored]),
                                     metadata=system_identity(), timeout=TIMEOUT)
    acks = {a.event_id: a for a in response.acks}
    assert acks["evt_broken"].status == epb.ACK_STATUS_REJECTED
    for field in ("opportunity_id", "customer_id", "deal_won.owner_id"):
        assert field in acks["evt_broken"].message
    assert acks["evt_unknown"].status == epb.ACK_STATUS_REJECTED
    assert acks["evt_stage"].status == epb.ACK_STATUS_ACCEPTED
    assert tickets.list(identity("admin1", "admin", "hq")).tickets == []
    # Arbitrary envelopes and payloads are acknowledged or rejected, never crash nor ask for retries.
    import random
    from test_tickets import _fill_randomly

    rng = random.Random(9)
    fuzz = []
    for i in range(60):
        event = _fill_randomly(epb.Event(), rng)
        event.event_id = f"evt_fuzz_{i}"
        event.kind = rng.choice([epb.EVENT_KIND_DEAL_WON, epb.EVENT_KIND_CUSTOMER_OWNER_CHANGED,
                                 epb.EVENT_KIND_CUSTOMER_CREATED, event.kind])
        fuzz.append(event)
    statuses = [status for _, status in events.deliver(fuzz)]
    assert len(statuses) == 60 and epb.ACK_STATUS_RETRY not in statuses
    suite.processes["tickets"].assert_alive()

    # Producers must present the service token.
    err = rpc_error(events.stub().Deliver, epb.DeliverEventsRequest(events=[ignored]),
                    metadata=(("x-crm-service-token", "nope"),), timeout=TIMEOUT)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_customer_owner_change_moves_open_tickets(suite):
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    pb, epb = tickets.pb, events.pb
    events.deliver([events.deal_won("opp_9", customer_id="cus_9")])
    line = onboarding_line(tickets, "opp_9")
    done = tickets.move(line[0], pb.TICKET_STATUS_RESOLVED, resolution="delivered")
    change = epb.Event(event_id="evt_owner", schema_version=1, kind=epb.EVENT_KIND_CUSTOMER_OWNER_CHANGED,
                       occurred_at_ms=suite.clock.now_ms, producer="crm-customers", actor_id="m1",
                       aggregate_type=epb.AGGREGATE_TYPE_CUSTOMER, aggregate_id="cus_9", customer_id="cus_9",
                       team_id="team-a",
                       customer_owner_changed=epb.CustomerOwnerChangedPayload(from_owner_id="u1", to_owner_id="u3",
                                                                              reason="u1 left"))
    assert events.deliver([change], producer="crm-customers") == [("evt_owner", epb.ACK_STATUS_ACCEPTED)]
    moved = onboarding_line(tickets, "opp_9", identity("u3", "rep", "team-a"))
    owners = {t.template_step: t.owner_id for t in moved}
    # Open tickets follow the new owner; the resolved delivery stays with who did it, and the new
    # owner sees it as the customer's owner.
    assert owners == {"delivery": "u1", "training": "u3", "return_visit": "u3", "repurchase_check": "u3"}
    assert tickets.get(done.id, identity("u3", "rep", "team-a")).ticket.owner_id == "u1"


# --------------------------------------------------------------------------------------------
# TICKET_* events out
# --------------------------------------------------------------------------------------------


def test_ticket_changes_reach_customers_and_repurchase_reaches_leads(suite, sinks):
    customers, leads = sinks
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    pb, epb = tickets.pb, events.pb
    events.deliver([events.deal_won("opp_5", customer_id="cus_5")])
    line = {t.template_step: t for t in onboarding_line(tickets, "opp_5")}

    # R9: the delivery reaching RESOLVED tells crm-customers (which makes the customer EXISTING).
    delivery = tickets.move(line["delivery"], pb.TICKET_STATUS_RESOLVED, resolution="Delivered and accepted")
    [changed] = customers.wait_for(lambda e: e.kind == epb.EVENT_KIND_TICKET_STATUS_CHANGED and e.ticket_id == delivery.id)
    assert changed.producer == "crm-tickets" and changed.customer_id == "cus_5" and changed.opportunity_id == "opp_5"
    assert (changed.ticket_status_changed.kind, changed.ticket_status_changed.from_status,
            changed.ticket_status_changed.to_status) == (pb.TICKET_KIND_DELIVERY, pb.TICKET_STATUS_OPEN,
                                                        pb.TICKET_STATUS_RESOLVED)
    assert (changed.aggregate_type, changed.aggregate_id, changed.aggregate_version) == (
        epb.AGGREGATE_TYPE_TICKET, delivery.id, delivery.version)
    assert (changed.actor_id, changed.actor_team_id) == ("u1", "team-a")

    # Closing the return visit with a repurchase "yes" hands it back to the sales line (crm-leads).
    visit = tickets.move(line["return_visit"], pb.TICKET_STATUS_RESOLVED, resolution="Visited")
    visit = tickets.move(visit, pb.TICKET_STATUS_CLOSED, return_visit=pb.ReturnVisitOutcome(
        satisfaction=5, repurchase_opportunity=True, repurchase_note="wants 20 more units",
        repurchase_estimate_cents=4_000_000, currency="EUR"))
    [handed] = leads.wait_for(lambda e: e.kind == epb.EVENT_KIND_TICKET_CLOSED)
    assert handed.ticket_id == visit.id and handed.customer_id == "cus_5"
    assert handed.ticket_closed.return_visit.repurchase_opportunity
    assert handed.ticket_closed.return_visit.repurchase_note == "wants 20 more units"
    customers.wait_for(lambda e: e.kind == epb.EVENT_KIND_TICKET_CLOSED and e.ticket_id == visit.id)

    # A service request opened directly is linked to the customer's timeline too; closing it without a
    # repurchase does not bother crm-leads.
    request = tickets.create(customer_id="cus_5", title="Screen flickers")
    customers.wait_for(lambda e: e.kind == epb.EVENT_KIND_TICKET_OPENED and e.ticket_id == request.id
                       and e.ticket_opened.origin == pb.TICKET_ORIGIN_CUSTOMER_REQUEST)
    request = tickets.move(tickets.move(request, pb.TICKET_STATUS_RESOLVED, resolution="cable"),
                           pb.TICKET_STATUS_CLOSED)
    customers.wait_for(lambda e: e.kind == epb.EVENT_KIND_TICKET_CLOSED and e.ticket_id == request.id)
    time.sleep(0.5)
    assert [e.ticket_id for e in leads.snapshot()] == [visit.id]

    # Every event arrived once, in the producer's sequence order, with the service token.
    delivered = customers.snapshot()
    assert len({e.event_id for e in delivered}) == len(delivered)
    sequences = [e.sequence for e in delivered]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert customers.tokens == {SERVICE_TOKEN}


# --------------------------------------------------------------------------------------------
# End to end with the real crm-customers
# --------------------------------------------------------------------------------------------


def test_resolved_delivery_makes_the_customer_existing_in_crm_customers(suite):
    from crm.customers.v1 import customers_pb2 as cpb, customers_pb2_grpc
    from crm.events.v1 import events_pb2_grpc

    suite.start("customers")
    suite.start("tickets")
    tickets, events = Tickets(suite), Events(suite)
    pb, epb = tickets.pb, events.pb
    customers = customers_pb2_grpc.CustomerServiceStub(suite.channel("customers"))
    customer = customers.CreateCustomer(cpb.CreateCustomerRequest(
        request_id="c-1", customer=cpb.CustomerInput(name="Acme Logistics", phone="+49 30 1234567")),
        metadata=OWNER, timeout=TIMEOUT).customer

    # A service request names the customer as crm-customers knows it and goes to the customer's owner.
    request = tickets.create(customer_id=customer.id, title="Scanner offline", who=identity("m1", "manager", "team-a"))
    assert (request.customer_name, request.owner_id, request.team_id) == ("Acme Logistics", "u1", "team-a")
    # A customer the caller cannot see in crm-customers cannot get tickets either.
    err = rpc_error(tickets.create, customer_id=customer.id, who=identity("u2", "rep", "team-b"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "customer_id" in err.details()

    # crm-opportunities' relay delivers DEAL_WON to both consumers.
    won = events.deal_won("opp_e2e", customer_id=customer.id)
    sink = events_pb2_grpc.EventSinkStub(suite.channel("customers"))
    acks = sink.Deliver(epb.DeliverEventsRequest(producer="crm-opportunities", events=[won]),
                        metadata=system_identity(), timeout=TIMEOUT).acks
    assert [a.status for a in acks] == [epb.ACK_STATUS_ACCEPTED], acks
    assert [s for _, s in events.deliver([won])] == [epb.ACK_STATUS_ACCEPTED]

    def lifecycle():
        return customers.GetCustomer(cpb.GetCustomerRequest(customer_id=customer.id), metadata=OWNER,
                                     timeout=TIMEOUT).customer.lifecycle_status

    assert lifecycle() == cpb.LIFECYCLE_STATUS_WON
    delivery = next(t for t in onboarding_line(tickets, "opp_e2e") if t.kind == pb.TICKET_KIND_DELIVERY)
    tickets.move(delivery, pb.TICKET_STATUS_RESOLVED, resolution="Delivered, acceptance signed")
    deadline = time.monotonic() + 10
    while lifecycle() != cpb.LIFECYCLE_STATUS_EXISTING and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lifecycle() == cpb.LIFECYCLE_STATUS_EXISTING

    # The customer's record counts the open tickets from crm-tickets' events: the service request
    # and the three onboarding tickets still open.
    def open_tickets():
        return customers.GetCustomer(cpb.GetCustomerRequest(customer_id=customer.id), metadata=OWNER,
                                     timeout=TIMEOUT).customer.open_ticket_count

    deadline = time.monotonic() + 10
    while open_tickets() != 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_tickets() == 4

    # Reassigning the customer in crm-customers moves its open tickets to the new owner here.
    current = customers.GetCustomer(cpb.GetCustomerRequest(customer_id=customer.id), metadata=OWNER,
                                    timeout=TIMEOUT).customer
    customers.ReassignOwner(cpb.ReassignOwnerRequest(customer_id=customer.id, version=current.version,
                                                     new_owner_id="u3", reason="u1 moved to key accounts"),
                            metadata=identity("m1", "manager", "team-a"), timeout=TIMEOUT)
    newcomer = identity("u3", "rep", "team-a")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        owners = {t.id: t.owner_id for t in tickets.list(newcomer, customer_id=customer.id).tickets}
        if list(owners.values()).count("u3") == 4:
            break
        time.sleep(0.1)
    assert owners[request.id] == "u3"
    assert owners[delivery.id] == "u1"  # resolved work stays with who did it; u3 sees it as customer owner
    assert list(owners.values()).count("u3") == 4
