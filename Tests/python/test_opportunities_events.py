"""crm-opportunities between services: the DEAL_WON event reaches its consumer exactly once even when the
consumer was down at the time (transactional outbox), events reach crm-customers' timeline, the EventSink
applies consumed events once, and crm-forecast's export carries the action facts.
"""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest

from conftest import find_binary
from suite import SERVICE_TOKEN
from test_opportunities_support import (
    ADMIN, REP_A, REP_B, SYSTEM, confirm_key_person, create, create_request, fail, follow_up, get, pb, risk_kinds,
    stub, sweep,
)

DELIVERY_TIMEOUT_S = 25.0


def events_pb():
    from crm.events.v1 import events_pb2

    return events_pb2


class RecordingSink:
    """A consumer's `crm.events.v1.EventSink` on a peer's address, standing in for a service whose
    behaviour is not under test here: it checks the service token, remembers event ids (so a redelivery
    is acknowledged DUPLICATE, as the contract says), and can refuse the first calls like a consumer
    that is still starting."""

    def __init__(self, address: str, fail_first_calls: int = 0):
        from crm.events.v1 import events_pb2_grpc

        self.received: list = []
        self.calls = 0
        self._fail = fail_first_calls
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        sink = self

        class Servicer(events_pb2_grpc.EventSinkServicer):
            def Deliver(self, request, context):
                return sink._deliver(request, context)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        events_pb2_grpc.add_EventSinkServicer_to_server(Servicer(), self.server)
        self.server.add_insecure_port(address)
        self.server.start()

    def _deliver(self, request, context):
        e = events_pb()
        metadata = dict(context.invocation_metadata())
        if metadata.get("x-crm-service-token") != SERVICE_TOKEN:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "x-crm-service-token: not valid")
        with self._lock:
            self.calls += 1
            if self.calls <= self._fail:
                context.abort(grpc.StatusCode.UNAVAILABLE, "starting up")
            acks = []
            for event in request.events:
                self.received.append(event)
                status = e.ACK_STATUS_DUPLICATE if event.event_id in self._seen else e.ACK_STATUS_ACCEPTED
                self._seen.add(event.event_id)
                acks.append(e.EventAck(event_id=event.event_id, status=status))
            return e.DeliverEventsResponse(acks=acks)

    def of_kind(self, kind):
        with self._lock:
            return [event for event in self.received if event.kind == kind]

    def wait_for(self, kind, count=1, timeout=DELIVERY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.of_kind(kind)) >= count:
                return self.of_kind(kind)
            time.sleep(0.1)
        pytest.fail(f"no {count} event(s) of kind {kind} within {timeout} s; got {[x.kind for x in self.received]}")

    def stop(self):
        self.server.stop(grace=None)


def _win(suite, opp, deal):
    o = pb()
    return opp.MarkWon(o.MarkWonRequest(
        opportunity_id=deal.id, version=deal.version, signed_amount_cents=4_700_000, signed_date="2026-01-05",
        facts=o.StageFacts(needs_summary="Packing automation", quote_amount_cents=4_900_000, quote_date="2026-01-02",
                           negotiation_points=o.StringList(values=["payment in 3 instalments"]),
                           contract_document_ref="DMS-7")), metadata=REP_A, timeout=10).opportunity


def test_won_event_reaches_a_consumer_that_was_down_exactly_once(suite):
    e = events_pb()
    suite.start("opportunities")
    opp = stub(suite)
    deal = create(suite, opp, customer_id="cust-won", lead_id="lead-won", source=3)
    won = _win(suite, opp, deal)

    # The consumer is down when the deal is won, and the producer restarts before it comes back:
    # the event waits in the outbox, which is part of the same store as the win.
    time.sleep(1.0)
    suite.stop("opportunities")
    suite.start("opportunities")
    sink = RecordingSink(suite.address("tickets"), fail_first_calls=1)
    try:
        [event] = sink.wait_for(e.EVENT_KIND_DEAL_WON)
        time.sleep(2.0)  # any redelivery after the acknowledgement would show up now
        delivered = sink.of_kind(e.EVENT_KIND_DEAL_WON)
        assert len(delivered) == 1, f"DEAL_WON delivered {len(delivered)} times"
        # Only what crm-tickets consumes is routed to it.
        assert {x.kind for x in sink.received} == {e.EVENT_KIND_DEAL_WON}
    finally:
        sink.stop()
    assert event.producer == "crm-opportunities" and event.opportunity_id == deal.id
    assert event.customer_id == "cust-won" and event.lead_id == "lead-won" and event.team_id == "team-a"
    assert event.aggregate_type == e.AGGREGATE_TYPE_OPPORTUNITY and event.aggregate_version == won.version
    payload = event.deal_won
    assert (payload.owner_id, payload.signed_amount_cents, payload.signed_date, payload.currency) == \
        ("rep-a", 4_700_000, "2026-01-05", "EUR")
    assert payload.contract_document_ref == "DMS-7" and payload.won_from_stage == pb().STAGE_RELATIONSHIP


def _tickets_is_built() -> bool:
    """crm-tickets is another engineer's issue; its executable may still be the placeholder."""
    path = find_binary("crm-tickets")
    return subprocess.run([str(path), "--help"], capture_output=True, timeout=30).returncode == 0


def test_won_event_opens_after_sales_in_real_crm_tickets_exactly_once(suite):
    if not _tickets_is_built():
        pytest.skip("crm-tickets is not implemented yet (placeholder executable); "
                    "the outbox side is covered by test_won_event_reaches_a_consumer_that_was_down_exactly_once")
    from crm.tickets.v1 import tickets_pb2, tickets_pb2_grpc

    suite.start("opportunities")
    opp = stub(suite)
    deal = create(suite, opp, customer_id="cust-won")
    _win(suite, opp, deal)
    time.sleep(1.0)  # crm-tickets is down while the deal is won
    suite.start("tickets")
    tickets = tickets_pb2_grpc.TicketServiceStub(suite.channel("tickets"))

    def listed():
        return list(tickets.ListTickets(tickets_pb2.ListTicketsRequest(opportunity_id=deal.id),
                                        metadata=ADMIN, timeout=10).tickets)

    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while not listed() and time.monotonic() < deadline:
        time.sleep(0.2)
    first = listed()
    assert first, "the after-sales line was not opened"
    time.sleep(2.0)
    suite.stop("opportunities")
    suite.start("opportunities")  # a restarted producer must not deliver it again
    time.sleep(2.0)
    again = listed()
    assert sorted(t.id for t in again) == sorted(t.id for t in first)
    assert len({t.template_step for t in again}) == len(again)  # one ticket per onboarding step


def test_follow_ups_and_stage_moves_reach_the_customer_timeline(suite):
    e = events_pb()
    o = pb()
    sink = RecordingSink(suite.address("customers"))
    try:
        suite.start("opportunities")
        opp = stub(suite)
        deal = create(suite, opp, customer_id="cust-t")
        recorded = follow_up(suite, opp, deal.id, type=o.ACTIVITY_TYPE_VISIT, contact_ids=["contact-cfo"])
        opp.AdvanceStage(o.AdvanceStageRequest(opportunity_id=deal.id, version=recorded.opportunity.version,
                                               to_stage=o.STAGE_NEEDS_CONFIRMED,
                                               facts=o.StageFacts(needs_summary="Packing")),
                         metadata=REP_A, timeout=10)
        loose = follow_up(suite, opp, "", customer_id="cust-loose", type=o.ACTIVITY_TYPE_CALL)
        [created] = sink.wait_for(e.EVENT_KIND_OPPORTUNITY_CREATED)
        timeline = sink.wait_for(e.EVENT_KIND_FOLLOW_UP_RECORDED, count=2)
        [moved] = sink.wait_for(e.EVENT_KIND_STAGE_CHANGED)
    finally:
        sink.stop()
    assert created.customer_id == "cust-t" and created.opportunity_created.amount_cents == deal.amount_cents
    by_id = {x.follow_up_recorded.follow_up_id: x for x in timeline}
    visit = by_id[recorded.follow_up.id]
    assert visit.customer_id == "cust-t" and visit.opportunity_id == deal.id
    assert visit.follow_up_recorded.conclusion == recorded.follow_up.conclusion
    assert visit.follow_up_recorded.next_step == recorded.follow_up.next_step
    assert visit.follow_up_recorded.key_person_met and visit.follow_up_recorded.face_to_face
    assert by_id[loose.follow_up.id].customer_id == "cust-loose" and by_id[loose.follow_up.id].opportunity_id == ""
    assert (moved.stage_changed.from_stage, moved.stage_changed.to_stage) == (o.STAGE_RELATIONSHIP, o.STAGE_NEEDS_CONFIRMED)
    sequences = [x.sequence for x in sink.received]
    assert sequences == sorted(sequences) and len(set(x.event_id for x in sink.received)) == len(sink.received)


def _deliver(suite, *events):
    from crm.events.v1 import events_pb2_grpc

    sink = events_pb2_grpc.EventSinkStub(suite.channel("opportunities"))
    return sink.Deliver(events_pb().DeliverEventsRequest(producer="crm-customers", events=list(events)),
                        metadata=SYSTEM, timeout=10).acks


def test_event_sink_applies_key_person_and_owner_changes_once(suite):
    e, o = events_pb(), pb()
    suite.start("opportunities")
    opp = stub(suite)
    deal = confirm_key_person(opp, create(suite, opp, customer_id="cust-k", key_person_contact_id="contact-k"))
    archived = e.Event(event_id="cust-evt-1", schema_version=1, kind=e.EVENT_KIND_CONTACT_KEY_PERSON_CHANGED,
                       producer="crm-customers", customer_id="cust-k", contact_id="contact-k",
                       contact_key_person_changed=e.ContactKeyPersonChangedPayload(
                           contact_id="contact-k", key_person=True, archived=True, name="Dana CFO"))
    [ack] = _deliver(suite, archived)
    assert ack.status == e.ACK_STATUS_ACCEPTED
    after = get(opp, deal.id).opportunity
    assert after.key_person_contact_id == "" and after.version == deal.version + 1
    assert risk_kinds(after) == {(o.RISK_KIND_KEY_PERSON_MISSING, o.RISK_LEVEL_RED)}
    [ack] = _deliver(suite, archived)
    assert ack.status == e.ACK_STATUS_DUPLICATE
    assert get(opp, deal.id).opportunity.version == after.version  # applied once

    moved = e.Event(event_id="cust-evt-2", schema_version=1, kind=e.EVENT_KIND_CUSTOMER_OWNER_CHANGED,
                    producer="crm-customers", customer_id="cust-k", aggregate_id="cust-k", team_id="team-a",
                    customer_owner_changed=e.CustomerOwnerChangedPayload(from_owner_id="rep-a", to_owner_id="rep-b",
                                                                         reason="rep-a left"))
    broken = e.Event(event_id="cust-evt-3", kind=e.EVENT_KIND_CUSTOMER_OWNER_CHANGED, producer="crm-customers")
    acks = _deliver(suite, moved, broken)
    assert [a.status for a in acks] == [e.ACK_STATUS_ACCEPTED, e.ACK_STATUS_REJECTED]
    reassigned = get(opp, deal.id, ADMIN, include_open_tasks=True)
    assert reassigned.opportunity.owner_id == "rep-b"
    assert {t.owner_id for t in reassigned.open_tasks} == {"rep-b"}

    suite.stop("opportunities")
    suite.start("opportunities")
    [ack] = _deliver(suite, moved)  # remembered across a restart
    assert ack.status == e.ACK_STATUS_DUPLICATE


def test_export_for_forecast_carries_action_facts(suite):
    o = pb()
    suite.start("opportunities")
    opp = stub(suite)
    deal = create(suite, opp)
    other = create(suite, opp, customer_id="cust-2")
    follow_up(suite, opp, deal.id, type=o.ACTIVITY_TYPE_VISIT, contact_ids=["contact-cfo"])
    suite.clock.advance(days=20)
    follow_up(suite, opp, deal.id, type=o.ACTIVITY_TYPE_CALL)
    follow_up(suite, opp, deal.id, type=o.ACTIVITY_TYPE_CALL)
    snapshot_before = suite.clock.now_ms

    batches = list(opp.ExportForForecast(o.ExportForForecastRequest(include_stage_history=True, batch_size=1),
                                         metadata=SYSTEM, timeout=10))
    records = {r.opportunity.id: r for batch in batches for r in batch.records}
    assert set(records) == {deal.id, other.id} and all(b.snapshot_at_ms == snapshot_before for b in batches)
    facts = records[deal.id].facts
    assert facts.follow_up_count == 3 and facts.follow_ups_last_14_days == 2 and facts.follow_ups_last_30_days == 3
    assert {(c.type, c.count) for c in facts.counts_by_type} == {(o.ACTIVITY_TYPE_VISIT, 1), (o.ACTIVITY_TYPE_CALL, 2)}
    assert facts.key_person_met and facts.face_to_face_held and facts.key_person_confirmed and not facts.quoted
    assert facts.last_follow_up_at_ms == suite.clock.now_ms
    assert records[deal.id].open_task_count == 1 and records[other.id].overdue_task_count == 1
    assert len(records[deal.id].stage_history) == 1

    # Incremental: only what changed since the snapshot.
    suite.clock.advance(days=1)
    follow_up(suite, opp, other.id)
    changed = [r.opportunity.id for b in opp.ExportForForecast(
        o.ExportForForecastRequest(changed_since_ms=suite.clock.now_ms), metadata=SYSTEM, timeout=10) for r in b.records]
    assert changed == [other.id]
    # A rep's export is limited to what the rep sees.
    mine = [r.opportunity.id for b in opp.ExportForForecast(o.ExportForForecastRequest(),
                                                            metadata=(("x-crm-service-token", "test-service-token"),
                                                                      ("x-crm-user", "rep-z"), ("x-crm-role", "rep")),
                                                            timeout=10) for r in b.records]
    assert mine == []


def _customers_is_built() -> bool:
    path = find_binary("crm-customers")
    return subprocess.run([str(path), "--help"], capture_output=True, timeout=30).returncode == 0


def test_create_checks_customer_and_key_person_with_real_crm_customers(suite):
    if not _customers_is_built():
        pytest.skip("crm-customers is not implemented yet (placeholder executable)")
    from crm.customers.v1 import customers_pb2 as c, customers_pb2_grpc

    suite.start("customers")
    suite.start("opportunities")
    customers = customers_pb2_grpc.CustomerServiceStub(suite.channel("customers"))
    acme = customers.CreateCustomer(c.CreateCustomerRequest(
        request_id="c1", customer=c.CustomerInput(name="Acme Packaging GmbH", phone="+49 30 1234567"),
        contacts=[c.ContactInput(name="Dana Weber", job_title="CFO", email="dana@acme-packaging.de", key_person=True)]),
        metadata=REP_A, timeout=10)
    other = customers.CreateCustomer(c.CreateCustomerRequest(
        request_id="c2", customer=c.CustomerInput(name="Other Foods AG", phone="+49 40 7654321"),
        contacts=[c.ContactInput(name="Kai Roth", email="kai@other-foods.de")]), metadata=REP_A, timeout=10)
    customer_id, dana = acme.customer.id, acme.contacts[0].id
    opp = stub(suite)

    deal = create(suite, opp, customer_id=customer_id, key_person_contact_id=dana)
    assert deal.customer_name == "Acme Packaging GmbH" and deal.key_person_name == "Dana Weber"
    o = pb()
    message = fail_invalid(opp, suite, customer_id="cust-does-not-exist", key_person_contact_id=dana)
    assert "customer_id:" in message
    message = fail_invalid(opp, suite, customer_id=customer_id, key_person_contact_id=other.contacts[0].id)
    assert "key_person_contact_id:" in message
    # Another rep cannot open a deal on a customer they cannot see.
    assert "customer_id:" in fail_invalid(opp, suite, who=REP_B, customer_id=customer_id, key_person_contact_id=dana)

    # The follow-up reaches the customer's timeline through the outbox.
    recorded = follow_up(suite, opp, deal.id, type=o.ACTIVITY_TYPE_VISIT, contact_ids=[dana])
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    entries = []
    while time.monotonic() < deadline:
        entries = customers.ListTimeline(c.ListTimelineRequest(customer_id=customer_id), metadata=REP_A, timeout=10).entries
        if any(x.follow_up_id == recorded.follow_up.id for x in entries):
            break
        time.sleep(0.2)
    assert [x.follow_up_id for x in entries].count(recorded.follow_up.id) == 1, list(entries)


def fail_invalid(opp, suite, who=REP_A, **overrides):
    return fail(grpc.StatusCode.INVALID_ARGUMENT, opp.CreateOpportunity, create_request(suite, **overrides), who)


def test_admin_export_restores_into_a_fresh_store_idempotently(suite, start_process, tmp_path):
    o = pb()
    suite.start("opportunities")
    opp = stub(suite)
    deal = create(suite, opp)
    follow_up(suite, opp, deal.id)
    follow_up(suite, opp, "", customer_id="cust-loose")
    suite.clock.advance(days=8)
    sweep(opp)
    with pytest.raises(grpc.RpcError) as info:
        list(opp.ExportOpportunities(o.ExportOpportunitiesRequest(), metadata=REP_A, timeout=10))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    exported = [m.record for m in opp.ExportOpportunities(o.ExportOpportunitiesRequest(), metadata=ADMIN, timeout=10)]
    assert [bool(r.HasField("opportunity")) for r in exported] == [True, False]
    assert len(exported[0].follow_ups) == 1 and len(exported[0].risk_history) >= 1 and len(exported[1].follow_ups) == 1

    fresh = start_process("crm-opportunities", "--db", str(tmp_path / "restored.sqlite"),
                          "--service-token", SERVICE_TOKEN, "--clock-file", str(suite.clock.path))
    with grpc.insecure_channel(fresh.address) as channel:
        from crm.opportunities.v1 import opportunities_pb2_grpc
        restored = opportunities_pb2_grpc.OpportunityServiceStub(channel)

        def restore(dry_run=False):
            messages = [o.ImportOpportunitiesRequest(record=r, dry_run=dry_run) for r in exported]
            messages.append(o.ImportOpportunitiesRequest(record=o.OpportunityExportRecord()))  # invalid row
            return restored.ImportOpportunities(iter(messages), metadata=ADMIN, timeout=10)

        checked = restore(dry_run=True)
        assert [r.status for r in checked.results] == [o.IMPORT_STATUS_VALID, o.IMPORT_STATUS_VALID, o.IMPORT_STATUS_INVALID]
        first = restore()
        assert (first.imported, first.unchanged, first.failed) == (2, 0, 1)
        again = restore()
        assert (again.imported, again.unchanged, again.failed) == (0, 2, 1)
        copy = [m.record for m in restored.ExportOpportunities(o.ExportOpportunitiesRequest(), metadata=ADMIN, timeout=10)]
        assert copy == exported
