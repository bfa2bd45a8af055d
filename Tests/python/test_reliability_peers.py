"""Peers down (issue 10): the whole suite behind the gateway under a mixed load; each backend in turn is
stopped and started again. While it is down, calls routed to it fail fast with UNAVAILABLE and the
other backends keep answering; after it is back, calls to it succeed; and every event the other
services queued for it while it was down reaches it exactly once (the producers' outboxes and the
consumers' inboxes hold the same event ids, and the effects are counted once: the customer's
timeline has one entry per follow-up, the forecast one deal per opportunity).
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections import Counter

import grpc

from gateway_fakes import ADMIN_TOKEN, Directory
from reliability_support import BACKENDS, SCALE
from suite import DAY_MS

FAIL_FAST_S = 1.0          # an UNAVAILABLE answer for a stopped backend comes at once, not after a timeout
DOWN_S = 1.5
RECOVER_S = 15.0
PRODUCERS = ("leads", "customers", "opportunities", "tickets")
_n = itertools.count(1)


class Calls:
    """One representative call per backend, through the gateway as a rep of team-a."""

    def __init__(self, suite, md, customer_id: str, contact_id: str):
        from crm.customers.v1 import customers_pb2, customers_pb2_grpc
        from crm.forecast.v1 import forecast_pb2, forecast_pb2_grpc
        from crm.leads.v1 import leads_pb2, leads_pb2_grpc
        from crm.opportunities.v1 import opportunities_pb2, opportunities_pb2_grpc
        from crm.tickets.v1 import tickets_pb2, tickets_pb2_grpc
        channel = grpc.insecure_channel(suite.address("gateway"))
        suite.channels.append(channel)
        self.suite, self.md, self.customer_id, self.contact_id = suite, md, customer_id, contact_id
        self.pb = {"leads": leads_pb2, "customers": customers_pb2, "opportunities": opportunities_pb2,
                   "tickets": tickets_pb2, "forecast": forecast_pb2}
        self.leads = leads_pb2_grpc.LeadServiceStub(channel)
        self.customers = customers_pb2_grpc.CustomerServiceStub(channel)
        self.opportunities = opportunities_pb2_grpc.OpportunityServiceStub(channel)
        self.tickets = tickets_pb2_grpc.TicketServiceStub(channel)
        self.forecast = forecast_pb2_grpc.ForecastServiceStub(channel)
        self.opportunity_ids: list[str] = []
        self.follow_ups: Counter = Counter()   # opportunity id -> follow-ups acknowledged
        self.lock = threading.Lock()

    def call(self, backend: str) -> None:
        """One write (or a read for crm-forecast) on `backend`; raises grpc.RpcError."""
        pb, n = self.pb[backend], next(_n)
        if backend == "leads":
            from leads_support import lead_input
            self.leads.CreateLead(pb.CreateLeadRequest(request_id=f"peer-{n}", lead=lead_input(),
                                                       routing=pb.INTAKE_ROUTING_CALLER), metadata=self.md, timeout=5)
        elif backend == "customers":
            self.customers.GetCustomer(pb.GetCustomerRequest(customer_id=self.customer_id), metadata=self.md,
                                       timeout=5)
        elif backend == "opportunities":
            with self.lock:
                target = self.opportunity_ids[n % len(self.opportunity_ids)] if len(self.opportunity_ids) > 2 else None
            if target is None:
                self.create_opportunity(n)
            else:
                self.opportunities.RecordFollowUp(pb.RecordFollowUpRequest(
                    request_id=f"peer-fu-{n}", opportunity_id=target, type=pb.ACTIVITY_TYPE_CALL,
                    conclusion="CFO confirmed the budget is approved for Q1", next_step="Send the revised proposal",
                    next_step_due_ms=self.suite.clock.now_ms + 2 * DAY_MS), metadata=self.md, timeout=5)
                with self.lock:
                    self.follow_ups[target] += 1
        elif backend == "tickets":
            self.tickets.CreateTicket(pb.CreateTicketRequest(
                request_id=f"peer-{n}", kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id=self.customer_id,
                title=f"Printer jams ({n})"), metadata=self.md, timeout=5)
        else:
            self.forecast.GetSettings(pb.GetSettingsRequest(), metadata=self.md, timeout=5)

    def create_opportunity(self, n: int) -> None:
        pb = self.pb["opportunities"]
        opportunity = self.opportunities.CreateOpportunity(pb.CreateOpportunityRequest(
            request_id=f"peer-opp-{n}", customer_id=self.customer_id, title=f"Deal {n}", amount_cents=1_000_000,
            currency="EUR", key_person_contact_id=self.contact_id, need="Automate packing", budget_cents=2_000_000,
            expected_close_date="2026-03-31", competitors=["Acme"], next_step="Call the CFO",
            next_step_due_ms=self.suite.clock.now_ms + DAY_MS), metadata=self.md, timeout=5).opportunity
        with self.lock:
            self.opportunity_ids.append(opportunity.id)


class MixedLoad:
    """Background threads calling every backend in turn; records each outcome per backend."""

    def __init__(self, calls: Calls, threads: int = 3):
        self.calls = calls
        self.stop = threading.Event()
        self.outcomes: list[tuple[float, str, grpc.StatusCode]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, worker: int) -> None:
        for i in itertools.count(worker):
            if self.stop.is_set():
                return
            backend = BACKENDS[i % len(BACKENDS)]
            try:
                self.calls.call(backend)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
            with self.lock:
                self.outcomes.append((time.monotonic(), backend, code))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def between(self, start: float, end: float) -> list[tuple[str, grpc.StatusCode]]:
        with self.lock:
            return [(backend, code) for t, backend, code in self.outcomes if start <= t <= end]


def outbox_and_inbox(suite) -> tuple[dict, dict, int]:
    """(producer, destination) -> event ids in the producer's outbox; (producer, consumer) -> event ids
    in the consumer's inbox; and how many outbox rows are still undelivered (not parked)."""
    outbox, inbox, pending = {}, {}, 0
    producer_names = {"crm-leads": "leads", "crm-customers": "customers", "crm-opportunities": "opportunities",
                      "crm-tickets": "tickets"}
    for name in BACKENDS:
        db = sqlite3.connect(f"file:{suite.directory / f'{name}.sqlite'}?mode=ro", uri=True, timeout=10)
        try:
            if name in PRODUCERS:
                for event_id, destination, delivered, parked in db.execute(
                        "SELECT event_id, destination, delivered_ms, parked_reason FROM outbox"):
                    if parked is None:
                        outbox.setdefault((name, destination), []).append(event_id)
                        pending += delivered is None
            for event_id, producer in db.execute("SELECT event_id, producer FROM inbox"):
                inbox.setdefault((producer_names.get(producer, producer), name), []).append(event_id)
        finally:
            db.close()
    return outbox, inbox, pending


def test_backends_down_and_up_under_load_fail_fast_recover_and_get_every_event_once(suite):
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    for backend in BACKENDS:
        suite.start(backend)
    directory = Directory(suite.channel("gateway"))
    team = directory.team("Peers Team")
    person = directory.person("Peer", "rep", team.id)
    from crm.customers.v1 import customers_pb2
    from crm.customers.v1 import customers_pb2_grpc
    customer = customers_pb2_grpc.CustomerServiceStub(suite.channel("gateway")).CreateCustomer(
        customers_pb2.CreateCustomerRequest(request_id="peer-customer",
                                            customer=customers_pb2.CustomerInput(name="Peer Test GmbH")),
        metadata=person.md(), timeout=10).customer
    contact = customers_pb2_grpc.CustomerServiceStub(suite.channel("gateway")).AddContact(
        customers_pb2.AddContactRequest(request_id="peer-contact", customer_id=customer.id, contact=customers_pb2.ContactInput(
            name="Carla CFO", phone="+49 151 5555 6666", key_person=True)), metadata=person.md(), timeout=10).contact
    calls = Calls(suite, person.md(), customer.id, contact.id)
    for n in range(3):
        calls.create_opportunity(n)

    report = []
    with MixedLoad(calls) as load:
        time.sleep(0.5)
        for _ in range(SCALE):
            for backend in BACKENDS:
                suite.stop(backend)                      # SIGTERM: graceful, exit 0
                down_at = time.monotonic()
                slow = []
                while time.monotonic() - down_at < DOWN_S:
                    started = time.monotonic()
                    try:
                        calls.call(backend)
                        raise AssertionError(f"a call to {backend} succeeded while it was down")
                    except grpc.RpcError as error:
                        took = time.monotonic() - started
                        assert error.code() == grpc.StatusCode.UNAVAILABLE, (backend, error.code(), error.details())
                        if took > FAIL_FAST_S:
                            slow.append(round(took, 2))
                    time.sleep(0.05)
                assert not slow, f"calls to stopped {backend} took {slow} s to fail"
                others = [code for b, code in load.between(down_at + 0.3, time.monotonic()) if b != backend]
                suite.start(backend)                     # same store, same port
                back_at = time.monotonic()
                while True:
                    try:
                        calls.call(backend)
                        break
                    except grpc.RpcError as error:
                        assert error.code() == grpc.StatusCode.UNAVAILABLE, (backend, error.code(), error.details())
                        assert time.monotonic() - back_at < RECOVER_S, f"{backend} not reachable again"
                        time.sleep(0.1)
                recovered = time.monotonic() - back_at
                bad = Counter(code.name for code in others if code != grpc.StatusCode.OK)
                report.append(f"{backend}: down {DOWN_S:.1f} s, UNAVAILABLE at once; back after {recovered:.2f} s; "
                              f"other backends {len(others)} calls, non-OK {dict(bad)}")
                # Only the stopped backend may fail; anything else must keep working.
                assert not bad, f"while {backend} was down, calls to the others failed: {dict(bad)}"
        time.sleep(0.5)
    after_load = load.between(0, time.monotonic())
    assert sum(code == grpc.StatusCode.OK for _, code in after_load) > 50, "the mixed load hardly ran"

    # Every queued event arrives: wait for the outboxes to drain (delivery backs off while a consumer is down).
    deadline = time.monotonic() + 45
    while True:
        outbox, inbox, pending = outbox_and_inbox(suite)
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert pending == 0, f"{pending} events still undelivered 45 s after the last restart"
    for (producer, destination), sent in sorted(outbox.items()):
        received = inbox.get((producer, destination), [])
        assert len(sent) == len(set(sent)), f"{producer} queued an event twice for {destination}"
        assert set(received) >= set(sent), f"{producer} -> {destination}: {len(set(sent) - set(received))} events lost"
        report.append(f"{producer} -> {destination}: {len(sent)} events, each in the inbox once")
    assert len(outbox) >= 3, f"too few event routes exercised: {sorted(outbox)}"

    # Effects counted once: one timeline entry per follow-up, one forecast deal per opportunity.
    timeline = customers_pb2_grpc.CustomerServiceStub(suite.channel("gateway"))
    entries, token = [], ""
    while True:
        page = timeline.ListTimeline(customers_pb2.ListTimelineRequest(customer_id=customer.id, page_size=100,
                                                                       page_token=token),
                                     metadata=person.md(), timeout=10)
        entries += page.entries
        token = page.next_page_token
        if not token:
            break
    follow_up_events = Counter(e.event_id for e in entries if e.kind == customers_pb2.TIMELINE_ENTRY_KIND_FOLLOW_UP)
    assert sum(follow_up_events.values()) == sum(calls.follow_ups.values()), \
        (sum(follow_up_events.values()), sum(calls.follow_ups.values()))
    assert all(count == 1 for count in follow_up_events.values()), "an event was applied twice"
    print("\n" + "\n".join(report))
