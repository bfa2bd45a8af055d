"""crm-customers (issue 3) and the rest of the suite: events it consumes (lifecycle, timeline, activity,
open work), the R7 focus list, the churn sweep driven by the test clock, outbox delivery of the
events it produces, and admin export/import — all against the real executable over gRPC.

Producers (crm-opportunities, crm-tickets, crm-leads) are driven through the real interface they use,
crm.events.v1.EventSink/Deliver; consumers of crm-customers' events are stock grpcio EventSink
servers listening on the consumer's address."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest

from customers_support import Customers, restart_customers, start_customers, unique
from suite import DAY_MS, SERVICE_TOKEN

U1, U2 = "u1", "u2"


@pytest.fixture
def crm(suite) -> Customers:
    return start_customers(suite)


def _to_existing(crm, customer_id, md):
    """Walks a new customer along line 2 to EXISTING by hand; returns its version."""
    pb, version = crm.pb, 1
    for status in (pb.LIFECYCLE_STATUS_INTERESTED, pb.LIFECYCLE_STATUS_QUOTING, pb.LIFECYCLE_STATUS_WON,
                   pb.LIFECYCLE_STATUS_EXISTING):
        version = crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=customer_id, version=version,
                                                                        to_status=status), md).customer.version
    return version


def test_events_move_the_lifecycle_forward_and_fill_the_timeline(crm):
    pb, ev, opp, tk = crm.pb, crm.events_pb, crm.opp_pb, crm.tickets_pb
    c = crm.create(crm.rep(U1), "Event Driven SA").customer

    def status():
        return crm.get(c.id, crm.rep(U1))

    acks = crm.deliver(crm.event("LEAD_CONVERTED", c.id, producer="crm-leads", lead_id="lead_7",
                                 lead_converted=ev.LeadConvertedPayload(customer_id=c.id, opportunity_id="opp_1",
                                                                        source=1, owner_id=U1)), producer="crm-leads")
    assert [a.status for a in acks] == [ev.ACK_STATUS_ACCEPTED]
    after = status()
    assert after.lifecycle_status == pb.LIFECYCLE_STATUS_INTERESTED and after.lead_id == "lead_7"
    assert after.version == 2

    crm.suite.clock.advance(hours=1)
    crm.deliver(crm.event("OPPORTUNITY_CREATED", c.id, opportunity_id="opp_1",
                          opportunity_created=ev.OpportunityCreatedPayload(title="Pilot", stage=opp.STAGE_RELATIONSHIP)))
    after = status()
    assert after.open_opportunity_count == 1 and after.lifecycle_status == pb.LIFECYCLE_STATUS_INTERESTED
    assert after.version == 2 and after.last_activity_at_ms == crm.suite.clock.now_ms  # activity alone: no version bump

    crm.deliver(crm.event("STAGE_CHANGED", c.id, opportunity_id="opp_1", stage_changed=ev.StageChangedPayload(
        from_stage=opp.STAGE_RELATIONSHIP, to_stage=opp.STAGE_QUOTE)))
    assert status().lifecycle_status == pb.LIFECYCLE_STATUS_QUOTING
    # Forward only: a stage moving back does not move the customer back.
    crm.deliver(crm.event("STAGE_CHANGED", c.id, opportunity_id="opp_1", stage_changed=ev.StageChangedPayload(
        from_stage=opp.STAGE_QUOTE, to_stage=opp.STAGE_NEEDS_CONFIRMED, backwards=True)))
    assert status().lifecycle_status == pb.LIFECYCLE_STATUS_QUOTING

    crm.deliver(crm.event("DEAL_WON", c.id, opportunity_id="opp_1", deal_won=ev.DealWonPayload(
        title="Pilot", signed_amount_cents=1_250_000, currency="EUR")))
    after = status()
    assert after.lifecycle_status == pb.LIFECYCLE_STATUS_WON and after.open_opportunity_count == 0

    crm.deliver(crm.event("TICKET_OPENED", c.id, producer="crm-tickets", ticket_id="tkt_1",
                          ticket_opened=ev.TicketOpenedPayload(kind=tk.TICKET_KIND_DELIVERY, title="Ship units")),
                producer="crm-tickets")
    assert status().open_ticket_count == 1
    crm.deliver(crm.event("TICKET_STATUS_CHANGED", c.id, producer="crm-tickets", ticket_id="tkt_1",
                          ticket_status_changed=ev.TicketStatusChangedPayload(
                              kind=tk.TICKET_KIND_DELIVERY, from_status=tk.TICKET_STATUS_IN_PROGRESS,
                              to_status=tk.TICKET_STATUS_RESOLVED)), producer="crm-tickets")
    after = status()
    assert after.lifecycle_status == pb.LIFECYCLE_STATUS_EXISTING and after.open_ticket_count == 0  # R9
    # Never out of EXISTING through a stage event.
    crm.deliver(crm.event("STAGE_CHANGED", c.id, opportunity_id="opp_2", stage_changed=ev.StageChangedPayload(
        to_stage=opp.STAGE_NEGOTIATION)))
    assert status().lifecycle_status == pb.LIFECYCLE_STATUS_EXISTING

    entries = crm.timeline(c.id, crm.rep(U1))
    kinds = [e.kind for e in entries]
    for kind in ("LEAD_CONVERTED", "OPPORTUNITY_CREATED", "STAGE_CHANGED", "DEAL_WON", "TICKET_OPENED",
                 "TICKET_STATUS_CHANGED", "CREATED"):
        assert getattr(pb, f"TIMELINE_ENTRY_KIND_{kind}") in kinds, kind
    assert [e.at_ms for e in entries] == sorted((e.at_ms for e in entries), reverse=True)
    won = next(e for e in entries if e.kind == pb.TIMELINE_ENTRY_KIND_DEAL_WON)
    assert won.source_service == "crm-opportunities" and won.opportunity_id == "opp_1" and "12500.00 EUR" in won.summary
    by_event = [e for e in entries if e.kind == pb.TIMELINE_ENTRY_KIND_STATUS_CHANGED]
    assert {e.trigger for e in by_event} == {pb.CHANGE_TRIGGER_EVENT}
    assert [e.to_status for e in by_event] == [pb.LIFECYCLE_STATUS_EXISTING, pb.LIFECYCLE_STATUS_WON,
                                               pb.LIFECYCLE_STATUS_QUOTING, pb.LIFECYCLE_STATUS_INTERESTED]
    # Timeline pages: newest first, no entry twice.
    paged, token = [], ""
    while True:
        page = crm.call("ListTimeline", pb.ListTimelineRequest(customer_id=c.id, page_size=3, page_token=token),
                        crm.rep(U1))
        paged += page.entries
        token = page.next_page_token
        if not token:
            break
    assert [e.id for e in paged] == [e.id for e in entries]


def test_each_event_is_applied_once(crm):
    pb, ev, opp = crm.pb, crm.events_pb, crm.opp_pb
    c = crm.create(crm.rep(U1), "Exactly Once BV").customer
    follow_up = crm.event("FOLLOW_UP_RECORDED", c.id, opportunity_id="opp_9", follow_up_recorded=ev.FollowUpRecordedPayload(
        follow_up_id="fu_1", type=opp.ACTIVITY_TYPE_VISIT, conclusion="Agreed pilot scope with IT",
        next_step="Send SOW", owner_id=U1))
    acks = crm.deliver(follow_up, follow_up)
    assert [a.status for a in acks] == [ev.ACK_STATUS_ACCEPTED, ev.ACK_STATUS_DUPLICATE]
    restart_customers(crm)
    assert [a.status for a in crm.deliver(follow_up)] == [ev.ACK_STATUS_DUPLICATE]
    visits = crm.timeline(c.id, crm.rep(U1), kinds=[pb.TIMELINE_ENTRY_KIND_FOLLOW_UP])
    assert len(visits) == 1
    assert visits[0].summary == "Visit: Agreed pilot scope with IT; next: Send SOW"
    assert visits[0].follow_up_id == "fu_1" and visits[0].event_id == follow_up.event_id


def test_unprocessable_events_are_rejected_and_others_ignored(crm):
    ev = crm.events_pb
    acks = crm.deliver(
        crm.event("DEAL_WON", "cus_unknown", opportunity_id="o"),
        crm.event("FOLLOW_UP_RECORDED", ""),
        ev.Event(kind=ev.EVENT_KIND_DEAL_WON, customer_id="x"),  # no event id
        crm.event("LEAD_CREATED", "", producer="crm-leads"),      # not for crm-customers: acknowledged
    )
    assert [a.status for a in acks] == [ev.ACK_STATUS_REJECTED, ev.ACK_STATUS_REJECTED, ev.ACK_STATUS_REJECTED,
                                        ev.ACK_STATUS_ACCEPTED]
    assert "cus_unknown" in acks[0].message and "customer_id" in acks[1].message


def test_focus_lists_key_and_dark_customers_for_the_owners_morning(crm):
    pb, ev, opp = crm.pb, crm.events_pb, crm.opp_pb
    key = crm.create(crm.rep(U1), "Key Account").customer
    crm.call("MarkKey", pb.MarkKeyRequest(customer_id=key.id, version=1, key=True, reason="strategic"), crm.rep(U1))
    quiet = crm.create(crm.rep(U1), "Quiet Customer").customer
    crm.suite.clock.advance(days=3)
    quieter = crm.create(crm.rep(U1), "Newer Quiet Customer").customer
    busy = crm.create(crm.rep(U1), "Busy Customer").customer
    crm.create(crm.rep(U2), "Someone Elses")

    assert [f.customer.id for f in crm.call("ListFocus", pb.ListFocusRequest(), crm.rep(U1)).customers] == [key.id]
    crm.suite.clock.advance(days=15)
    crm.deliver(crm.event("FOLLOW_UP_RECORDED", busy.id, follow_up_recorded=ev.FollowUpRecordedPayload(
        type=opp.ACTIVITY_TYPE_CALL, conclusion="Confirmed budget for next year", next_step="Demo")))
    focus = crm.call("ListFocus", pb.ListFocusRequest(), crm.rep(U1)).customers
    assert [f.customer.id for f in focus] == [key.id, quiet.id, quieter.id]  # key first, then longest silence
    assert list(focus[0].reasons) == [pb.FOCUS_REASON_KEY_CUSTOMER, pb.FOCUS_REASON_GOING_DARK]
    assert list(focus[1].reasons) == [pb.FOCUS_REASON_GOING_DARK] and focus[1].days_since_activity == 18
    assert focus[2].days_since_activity == 15
    assert focus[1].next_action.kind == pb.NEXT_ACTION_KIND_MAKE_CONTACT

    # Threshold override and configuration.
    assert [f.customer.id for f in crm.call("ListFocus", pb.ListFocusRequest(dark_after_days=16),
                                            crm.rep(U1)).customers] == [key.id, quiet.id]
    crm.call("UpdateSettings", pb.UpdateSettingsRequest(version=1, dark_after_days=17), crm.admin())
    assert [f.customer.id for f in crm.call("ListFocus", pb.ListFocusRequest(), crm.rep(U1)).customers] == [key.id, quiet.id]

    # Pages, and who may look at whose list.
    first = crm.call("ListFocus", pb.ListFocusRequest(page_size=1, dark_after_days=1), crm.rep(U1))
    second = crm.call("ListFocus", pb.ListFocusRequest(page_size=5, dark_after_days=1, page_token=first.next_page_token),
                      crm.rep(U1))
    assert [f.customer.id for f in list(first.customers) + list(second.customers)] == [key.id, quiet.id, quieter.id]
    err = crm.error("ListFocus", pb.ListFocusRequest(owner_id=U1), crm.rep(U2))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [f.customer.id for f in crm.call("ListFocus", pb.ListFocusRequest(owner_id=U1), crm.manager("m-a")).customers] == [key.id, quiet.id]
    assert crm.call("ListFocus", pb.ListFocusRequest(owner_id=U1), crm.manager("m-b", "team-b")).customers == []


def test_a_sweep_that_finds_hundreds_works_through_all_of_them_in_short_transactions(crm):
    """More silent customers than two of the sweep's batches (200 a transaction): every one is
    flagged, in id order, and cleared again when the rule changes."""
    pb = crm.pb
    template = crm.create(crm.rep(U1), "Bulk Template").customer
    _to_existing(crm, template.id, crm.rep(U1))
    record = next(r.record for r in crm.stub.ExportCustomers(pb.ExportCustomersRequest(), metadata=crm.admin(), timeout=10)
                  if r.record.customer.id == template.id)
    bulk = [f"cus_bulk_{i:04d}" for i in range(450)]
    requests = []
    for i, customer_id in enumerate(bulk):
        copy = pb.CustomerExportRecord(customer=record.customer)
        copy.customer.id, copy.customer.name, copy.customer.lead_id = customer_id, f"Bulk Customer {i}", ""
        requests.append(pb.ImportCustomersRequest(record=copy))
    imported = crm.stub.ImportCustomers(iter(requests), metadata=crm.admin(), timeout=120)
    assert (imported.imported, imported.failed) == (len(bulk), 0), [r.message for r in imported.results if r.message][:3]

    crm.suite.clock.advance(days=181)
    everyone = sorted(bulk + [template.id])
    assert list(crm.call("RunSweep", pb.RunSweepRequest(dry_run=True), crm.admin()).flagged_customer_ids) == everyone
    assert list(crm.call("RunSweep", pb.RunSweepRequest(), crm.admin()).flagged_customer_ids) == everyone
    for customer_id in (everyone[0], everyone[199], everyone[200], everyone[-1]):
        assert crm.get(customer_id, crm.admin()).churn_risk, customer_id
    assert list(crm.call("RunSweep", pb.RunSweepRequest(), crm.admin()).flagged_customer_ids) == []

    version = crm.call("GetSettings", pb.GetSettingsRequest(), crm.admin()).settings.version
    crm.call("UpdateSettings", pb.UpdateSettingsRequest(version=version, churn_risk_after_days=365), crm.admin())
    cleared = crm.call("RunSweep", pb.RunSweepRequest(), crm.admin())
    assert list(cleared.cleared_customer_ids) == everyone and list(cleared.flagged_customer_ids) == []
    assert not any(crm.get(customer_id, crm.admin()).churn_risk for customer_id in (everyone[0], everyone[-1]))


def test_churn_sweep_flags_silent_existing_customers_and_activity_clears_it(crm):
    pb, ev, tk = crm.pb, crm.events_pb, crm.tickets_pb
    silent = crm.create(crm.rep(U1), "Silent Existing").customer
    with_ticket = crm.create(crm.rep(U1), "Existing With Open Ticket").customer
    young = crm.create(crm.rep(U1), "Still New").customer
    _to_existing(crm, silent.id, crm.rep(U1))
    _to_existing(crm, with_ticket.id, crm.rep(U1))
    crm.deliver(crm.event("TICKET_OPENED", with_ticket.id, producer="crm-tickets", ticket_id="tkt_9",
                          ticket_opened=ev.TicketOpenedPayload(kind=tk.TICKET_KIND_SERVICE_REQUEST, title="Broken")),
                producer="crm-tickets")

    assert crm.error("RunSweep", pb.RunSweepRequest(), crm.manager("m-a")).code() == grpc.StatusCode.PERMISSION_DENIED
    assert list(crm.call("RunSweep", pb.RunSweepRequest(), crm.admin()).flagged_customer_ids) == []
    crm.suite.clock.advance(days=181)
    dry = crm.call("RunSweep", pb.RunSweepRequest(dry_run=True), crm.admin())
    assert list(dry.flagged_customer_ids) == [silent.id]
    assert not crm.get(silent.id, crm.rep(U1)).churn_risk  # a dry run writes nothing
    swept = crm.call("RunSweep", pb.RunSweepRequest(), crm.admin())
    assert list(swept.flagged_customer_ids) == [silent.id] and swept.swept_at_ms == crm.suite.clock.now_ms
    flagged = crm.get(silent.id, crm.rep(U1))
    assert flagged.churn_risk and flagged.churn_risk_since_ms == crm.suite.clock.now_ms
    assert not crm.get(with_ticket.id, crm.rep(U1)).churn_risk and not crm.get(young.id, crm.rep(U1)).churn_risk
    assert list(crm.call("RunSweep", pb.RunSweepRequest(), crm.admin()).flagged_customer_ids) == []  # idempotent
    entry = crm.timeline(silent.id, crm.rep(U1))[0]
    assert entry.kind == pb.TIMELINE_ENTRY_KIND_CHURN_RISK_FLAGGED and entry.trigger == pb.CHANGE_TRIGGER_SWEEP
    assert [c.id for c in crm.call("ListCustomers", pb.ListCustomersRequest(churn_risk_only=True), crm.rep(U1)).customers] == [silent.id]
    focus = {f.customer.id: list(f.reasons) for f in crm.call("ListFocus", pb.ListFocusRequest(), crm.rep(U1)).customers}
    assert pb.FOCUS_REASON_CHURN_RISK in focus[silent.id]

    # Activity clears the risk; churned is only ever set explicitly, with a reason.
    crm.deliver(crm.event("FOLLOW_UP_RECORDED", silent.id, follow_up_recorded=ev.FollowUpRecordedPayload(
        type=1, conclusion="Customer wants to renew next quarter")))
    cleared = crm.get(silent.id, crm.rep(U1))
    assert not cleared.churn_risk and cleared.lifecycle_status == pb.LIFECYCLE_STATUS_EXISTING
    assert crm.timeline(silent.id, crm.rep(U1))[0].kind == pb.TIMELINE_ENTRY_KIND_CHURN_RISK_CLEARED
    churned = crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(
        customer_id=with_ticket.id, version=crm.get(with_ticket.id, crm.rep(U1)).version,
        to_status=pb.LIFECYCLE_STATUS_CHURNED, reason="moved production abroad"), crm.rep(U1)).customer
    assert churned.lifecycle_status == pb.LIFECYCLE_STATUS_CHURNED and churned.churn_reason == "moved production abroad"


def test_archive_is_refused_while_work_is_open_unless_forced(crm):
    pb, ev, opp = crm.pb, crm.events_pb, crm.opp_pb
    c = crm.create(crm.rep(U1), "Open Work Ltd").customer
    crm.deliver(crm.event("OPPORTUNITY_CREATED", c.id, opportunity_id="opp_open",
                          opportunity_created=ev.OpportunityCreatedPayload(title="Deal", stage=opp.STAGE_RELATIONSHIP)))
    err = crm.error("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=1, reason="x"), crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "1 open opportunities" in err.details()
    archived = crm.call("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=1, reason="merged",
                                                                     force=True), crm.rep(U1)).customer
    assert archived.archived


class RecordingSink:
    """A stock grpcio crm.events.v1.EventSink at a consumer's address; answers RETRY to the first
    `retry_first` deliveries, then ACCEPTED, and records every event it accepted."""

    def __init__(self, events_pb, events_grpc, address: str, retry_first: int = 0):
        self.events: list = []
        self.calls = 0
        self.lock = threading.Lock()
        sink = self

        class Servicer(events_grpc.EventSinkServicer):
            def Deliver(self, request, context):
                metadata = dict(context.invocation_metadata())
                assert metadata.get("x-crm-service-token") == SERVICE_TOKEN
                with sink.lock:
                    sink.calls += 1
                    retry = sink.calls <= retry_first
                    if not retry:
                        sink.events += list(request.events)
                status = events_pb.ACK_STATUS_RETRY if retry else events_pb.ACK_STATUS_ACCEPTED
                return events_pb.DeliverEventsResponse(
                    acks=[events_pb.EventAck(event_id=e.event_id, status=status) for e in request.events])

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        events_grpc.add_EventSinkServicer_to_server(Servicer(), self.server)
        self.server.add_insecure_port(address)

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop(0)

    def wait_for(self, count: int, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.05)
        with self.lock:
            return list(self.events)


def test_outbox_delivers_ownership_archive_and_key_person_events(crm):
    from crm.events.v1 import events_pb2_grpc
    pb, ev = crm.pb, crm.events_pb
    # The consumers are down while this happens. The pause lets the relay fail several times on the
    # first event, so it backs off longer than the events queued after it: order must survive that.
    c = crm.create(crm.rep(U1), "Outbox Customer").customer
    crm.call("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=1, new_owner_id=U2,
                                                      reason="territory change"), crm.manager("m-a"))
    time.sleep(1.5)
    contact = crm.call("AddContact", pb.AddContactRequest(customer_id=c.id, contact=pb.ContactInput(
        name="Key Person", phone="+4912345678", key_person=True)), crm.rep(U2)).contact
    crm.call("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=2, reason="merged"), crm.rep(U2))

    # The consumers come up now (one refuses the first batch it gets).
    opportunities = RecordingSink(ev, events_pb2_grpc, crm.suite.address("opportunities"), retry_first=1).start()
    tickets = RecordingSink(ev, events_pb2_grpc, crm.suite.address("tickets")).start()
    try:
        got = opportunities.wait_for(3)
        kinds = [e.kind for e in got]
        assert kinds == [ev.EVENT_KIND_CUSTOMER_OWNER_CHANGED, ev.EVENT_KIND_CONTACT_KEY_PERSON_CHANGED,
                         ev.EVENT_KIND_CUSTOMER_ARCHIVED], kinds
        owner = got[0]
        assert owner.customer_id == c.id and owner.producer == "crm-customers" and owner.actor_id == "m-a"
        assert (owner.customer_owner_changed.from_owner_id, owner.customer_owner_changed.to_owner_id) == (U1, U2)
        assert owner.customer_owner_changed.reason == "territory change" and owner.aggregate_version == 2
        assert got[1].contact_key_person_changed.contact_id == contact.id and got[1].contact_key_person_changed.key_person
        assert got[2].customer_archived.reason == "merged"
        assert [e.sequence for e in got] == sorted(e.sequence for e in got)
        ticket_events = tickets.wait_for(2)
        assert [e.kind for e in ticket_events] == [ev.EVENT_KIND_CUSTOMER_CREATED, ev.EVENT_KIND_CUSTOMER_OWNER_CHANGED]
        assert ticket_events[0].customer_created.name == "Outbox Customer" and ticket_events[0].team_id == "team-a"
        assert opportunities.calls >= 2  # the refused batch was delivered again
        time.sleep(1.0)
        assert len(opportunities.events) == 3 and len(tickets.events) == 2  # nothing doubled
    finally:
        opportunities.stop()
        tickets.stop()


def test_export_and_import_restore_customers_with_their_history(crm, start_process, tmp_path):
    pb = crm.pb
    a = crm.create(crm.rep(U1), "Export One", tags=["t1"], contacts=[pb.ContactInput(name="Eve", phone="+4912345678")]).customer
    crm.call("MarkKey", pb.MarkKeyRequest(customer_id=a.id, version=1, key=True, reason="big"), crm.rep(U1))
    b = crm.create(crm.rep(U2), "Export Two").customer
    crm.call("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=b.id, version=1, reason="gone"), crm.rep(U2))

    with pytest.raises(grpc.RpcError) as info:
        list(crm.stub.ExportCustomers(pb.ExportCustomersRequest(), metadata=crm.rep(U1), timeout=10))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    records = [r.record for r in crm.stub.ExportCustomers(
        pb.ExportCustomersRequest(include_archived=True, include_timeline=True), metadata=crm.admin(), timeout=10)]
    assert sorted(r.customer.id for r in records) == sorted([a.id, b.id])
    assert all(r.timeline and r.transitions for r in records)
    active_only = [r.record.customer.id for r in crm.stub.ExportCustomers(pb.ExportCustomersRequest(),
                                                                          metadata=crm.admin(), timeout=10)]
    assert active_only == [a.id]

    other = start_process("crm-customers", "--db", str(tmp_path / "restored.sqlite"), "--service-token", SERVICE_TOKEN,
                          "--clock-file", str(crm.suite.clock.path))
    from crm.customers.v1 import customers_pb2_grpc
    with grpc.insecure_channel(other.address) as channel:
        restored = customers_pb2_grpc.CustomerServiceStub(channel)
        dry = restored.ImportCustomers(iter([pb.ImportCustomersRequest(record=r, dry_run=True) for r in records]),
                                       metadata=crm.admin(), timeout=10)
        assert [r.status for r in dry.results] == [pb.IMPORT_STATUS_VALID] * 2 and dry.imported == 0
        assert restored.ListCustomers(pb.ListCustomersRequest(include_archived=True), metadata=crm.admin(),
                                      timeout=10).customers == []
        requests = [pb.ImportCustomersRequest(record=r) for r in records]
        bad = pb.CustomerExportRecord(customer=pb.Customer(id="", name=""))
        absurd = pb.CustomerExportRecord(
            customer=pb.Customer(id="cus_absurd", name="Absurd", owner_id="x", version=2**63 - 1, grade=9,
                                 lifecycle_status=pb.LIFECYCLE_STATUS_NEW, last_activity_at_ms=-2**63,
                                 tags=["a\u001fb"]),
            contacts=[pb.Contact(id="ctc_1", customer_id="other", name="N", version=1)])
        with_contacts = next(r for r in records if r.contacts)
        clash = pb.CustomerExportRecord(customer=with_contacts.customer, contacts=list(with_contacts.contacts) * 2)
        clash.customer.id = "cus_clash"
        clash.customer.lead_id = ""
        for contact in clash.contacts:
            contact.customer_id = "cus_clash"
        result = restored.ImportCustomers(iter(requests + [pb.ImportCustomersRequest(record=r) for r in (bad, absurd, clash)]),
                                          metadata=crm.admin(), timeout=10)
        assert (result.imported, result.unchanged, result.failed) == (2, 0, 3)
        assert result.results[2].status == pb.IMPORT_STATUS_INVALID and "customer.id" in result.results[2].message
        for field in ("customer.version", "customer.grade", "customer.tags[0]", "contacts[0].customer_id"):
            assert field in result.results[3].message, result.results[3].message
        assert result.results[4].status == pb.IMPORT_STATUS_FAILED  # the same contact twice in one record
        with pytest.raises(grpc.RpcError) as info:
            restored.GetCustomer(pb.GetCustomerRequest(customer_id="cus_clash"), metadata=crm.admin(), timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND  # nothing of a failed record stays
        again = restored.ImportCustomers(iter(requests), metadata=crm.admin(), timeout=10)
        assert (again.imported, again.unchanged, again.failed) == (0, 2, 0)
        for record in records:
            got = restored.GetCustomer(pb.GetCustomerRequest(customer_id=record.customer.id), metadata=crm.admin(),
                                       timeout=10).customer
            assert got == record.customer
            timeline = restored.ListTimeline(pb.ListTimelineRequest(customer_id=record.customer.id, page_size=500),
                                             metadata=crm.admin(), timeout=10).entries
            assert sorted(e.id for e in timeline) == sorted(e.id for e in record.timeline)
        contacts = restored.ListContacts(pb.ListContactsRequest(customer_id=a.id), metadata=crm.admin(), timeout=10)
        assert [k.name for k in contacts.contacts] == ["Eve"]
        # Restored data is live data: the duplicate guard sees it.
        with pytest.raises(grpc.RpcError) as info:
            restored.CreateCustomer(pb.CreateCustomerRequest(customer=pb.CustomerInput(name="export one")),
                                    metadata=crm.rep(U1), timeout=10)
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
