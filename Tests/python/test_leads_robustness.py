"""crm-leads as a consumer of crm.events.v1 (exactly-once, DEAL_WON, repurchase hand-over from R9), admin
export/import, and hostile input: no request, however malformed, produces INTERNAL or kills the process."""

from __future__ import annotations

import os

import grpc
import pytest

from leads_support import (
    TIMEOUT_S, admin, assert_status, create, eventually, get, identity, lead_input, leads_stub, pb, quiet_sweeps,
    rpc_error, start_leads, system_identity,
)

REP = identity("rep-a", "rep", "team-a")


def events_pb():
    from crm.events.v1 import events_pb2
    return events_pb2


def sink(suite):
    from crm.events.v1 import events_pb2_grpc
    return events_pb2_grpc.EventSinkStub(suite.channel("leads"))


def test_events_apply_exactly_once(suite):
    start_leads(suite)
    leads = leads_stub(suite)
    events = sink(suite)
    e = events_pb()
    lead = create(leads, REP, lead_input(source=pb().LEAD_SOURCE_LIVE_STREAM), routing=pb().INTAKE_ROUTING_CALLER).lead
    won = e.Event(event_id="evt-won-1", kind=e.EVENT_KIND_DEAL_WON, producer="crm-opportunities", lead_id=lead.id,
                  opportunity_id="opp-1", aggregate_id="opp-1",
                  deal_won=e.DealWonPayload(signed_amount_cents=12_345, currency="EUR"))
    first = events.Deliver(e.DeliverEventsRequest(producer="crm-opportunities", events=[won]),
                           metadata=system_identity(), timeout=TIMEOUT_S)
    assert [a.status for a in first.acks] == [e.ACK_STATUS_ACCEPTED]
    # Redelivery (the producer never saw the ack) and the same deal under a new event id: counted once.
    again = events.Deliver(e.DeliverEventsRequest(producer="crm-opportunities", events=[won]),
                           metadata=system_identity(), timeout=TIMEOUT_S)
    assert [a.status for a in again.acks] == [e.ACK_STATUS_DUPLICATE]
    won.event_id = "evt-won-2"
    events.Deliver(e.DeliverEventsRequest(producer="crm-opportunities", events=[won]), metadata=system_identity(),
                   timeout=TIMEOUT_S)
    report = leads.SourceReport(pb().SourceReportRequest(currency="EUR"), metadata=admin(), timeout=TIMEOUT_S)
    assert (report.total.won_count, report.total.won_amount_cents) == (1, 12_345)
    # A malformed event is rejected for an operator, not retried forever; unknown kinds are acknowledged.
    bad = events.Deliver(e.DeliverEventsRequest(producer="x", events=[
        e.Event(event_id="evt-bad", kind=e.EVENT_KIND_DEAL_WON),
        e.Event(event_id="evt-other", kind=e.EVENT_KIND_RISK_CHANGED),
        e.Event(event_id="", kind=e.EVENT_KIND_DEAL_WON)]), metadata=system_identity(), timeout=TIMEOUT_S)
    assert [a.status for a in bad.acks] == [e.ACK_STATUS_REJECTED, e.ACK_STATUS_ACCEPTED, e.ACK_STATUS_REJECTED]
    # Only the suite may deliver.
    assert rpc_error(events.Deliver, e.DeliverEventsRequest(), metadata=system_identity("nope"),
                     timeout=TIMEOUT_S).code() == grpc.StatusCode.UNAUTHENTICATED


def test_repurchase_need_from_a_closed_ticket_becomes_one_lead(suite):
    from crm.customers.v1 import customers_pb2, customers_pb2_grpc
    from crm.tickets.v1 import tickets_pb2
    suite.start("customers")
    start_leads(suite)
    leads = leads_stub(suite)
    customers = customers_pb2_grpc.CustomerServiceStub(suite.channel("customers"))
    created = customers.CreateCustomer(customers_pb2.CreateCustomerRequest(
        request_id="c1", customer=customers_pb2.CustomerInput(name="Bergmann Bau KG", region="DE-South"),
        contacts=[customers_pb2.ContactInput(name="Petra Bergmann", phone="+49 89 1234567", key_person=True)]),
        metadata=REP, timeout=TIMEOUT_S)
    e = events_pb()
    closed = e.Event(
        event_id="evt-ticket-9", kind=e.EVENT_KIND_TICKET_CLOSED, producer="crm-tickets", ticket_id="tkt-9",
        aggregate_id="tkt-9", customer_id=created.customer.id, contact_id=created.contacts[0].id,
        ticket_closed=e.TicketClosedPayload(
            title="Return visit after delivery", owner_id="rep-a",
            return_visit=tickets_pb2.ReturnVisitOutcome(satisfaction=5, repurchase_opportunity=True,
                                                        repurchase_note="wants 3 more excavators")))
    for _ in range(2):
        sink(suite).Deliver(e.DeliverEventsRequest(producer="crm-tickets", events=[closed]),
                            metadata=system_identity(), timeout=TIMEOUT_S)

    def handed_over():
        found = leads.ListLeads(pb().ListLeadsRequest(sources=[pb().LEAD_SOURCE_EXISTING_CUSTOMER_REPURCHASE]),
                                metadata=admin(), timeout=TIMEOUT_S).leads
        assert len(found) == 1
        return found[0]
    lead = eventually(handed_over, timeout_s=20)
    assert lead.contact_name == "Petra Bergmann" and lead.phone == "+49891234567"
    assert lead.company == "Bergmann Bau KG" and "excavators" in lead.initial_need
    assert "tkt-9" in lead.source_detail


def test_export_then_import_restores_leads_with_history(suite):
    start_leads(suite)
    leads = leads_stub(suite)
    one = create(leads, REP, routing=pb().INTAKE_ROUTING_CALLER).lead
    leads.RecordContact(pb().RecordContactRequest(lead_id=one.id, channel=pb().CONTACT_CHANNEL_EMAIL,
                                                  outcome=pb().CONTACT_OUTCOME_REACHED), metadata=REP, timeout=TIMEOUT_S)
    two = create(leads, REP).lead
    assert rpc_error(lambda: list(leads.ExportLeads(pb().ExportLeadsRequest(), metadata=REP, timeout=TIMEOUT_S))
                     ).code() == grpc.StatusCode.PERMISSION_DENIED
    records = [r.record for r in leads.ExportLeads(pb().ExportLeadsRequest(include_history=True), metadata=admin(),
                                                   timeout=TIMEOUT_S)]
    assert sorted(r.lead.id for r in records) == sorted([one.id, two.id])

    # A fresh store receives the export.
    suite.stop("leads")
    os.remove(suite.directory / "leads.sqlite")
    start_leads(suite)
    leads = leads_stub(suite)
    requests = [pb().ImportLeadsRequest(record=r) for r in records] + [pb().ImportLeadsRequest(record=pb().LeadExportRecord())]
    result = leads.ImportLeads(iter(requests), metadata=admin(), timeout=TIMEOUT_S)
    assert result.summary.created == 2 and result.summary.invalid == 1
    restored = get(leads, REP, one.id, history=True)
    assert restored.lead.status == pb().LEAD_STATUS_ACTIVATED
    assert len(restored.contacts) == 1 and len(restored.assignments) == 1
    again = leads.ImportLeads(iter(requests[:2]), metadata=admin(), timeout=TIMEOUT_S)
    assert again.summary.replayed == 2  # idempotent by lead id
    # Restored leads still block duplicates.
    assert rpc_error(create, leads, REP, lead_input(phone=one.phone)).code() == grpc.StatusCode.ALREADY_EXISTS


UNARY = ["CreateLead", "CreateLeads", "GetLead", "ListLeads", "ClaimLead", "AssignLead", "RecordContact",
         "DisqualifyLead", "ConvertLead", "ListDue", "SourceReport", "RecordSourceSpend", "ListAssignmentRules",
         "SetAssignmentRules", "GetSettings", "UpdateSettings", "RunSweep"]


def test_hostile_input_never_produces_internal(suite):
    process = start_leads(suite)
    leads = leads_stub(suite)
    quiet_sweeps(leads)
    channel = suite.channel("leads")
    m = pb()
    callers = [REP, admin(), identity("m", "manager", "")]
    weird = [
        ("CreateLead", m.CreateLeadRequest(lead=m.LeadInput(source=-5, phone="+" * 300, email="@" * 300,
                                                            contact_name="\u0000\u202e" * 50), routing=99, owner_id="x")),
        ("CreateLeads", m.CreateLeadsRequest(rows=[m.LeadIntakeRow(row_number=-1, routing=-7)] * 50)),
        ("ListLeads", m.ListLeadsRequest(page_size=-1)),
        ("ListLeads", m.ListLeadsRequest(page_size=2**31 - 1, created_from_ms=-(2**63), statuses=[-1, 999],
                                         page_token="bm90IGEgdG9rZW4=")),
        ("ListDue", m.ListDueRequest(until_ms=2**63 - 1, page_token="YQ==\x1fb\x1fc")),
        ("ClaimLead", m.ClaimLeadRequest(lead_id="'; DROP TABLE leads; --", version=-1)),
        ("RecordContact", m.RecordContactRequest(lead_id="x", channel=77, outcome=-3, contacted_at_ms=-(2**63))),
        ("SourceReport", m.SourceReportRequest(from_ms=2**63 - 1, to_ms=1, granularity=9, currency="€€€")),
        ("SourceReport", m.SourceReportRequest(granularity=m.GRANULARITY_QUARTER, sources=[-1], currency="usd")),
        ("RecordSourceSpend", m.RecordSourceSpendRequest(month="2026-13", amount_cents=-(2**63), source=3)),
        ("UpdateSettings", m.UpdateSettingsRequest(version=1, activation_window_ms=2**63 - 1, warning_before_ms=-(2**63))),
        ("SetAssignmentRules", m.SetAssignmentRulesRequest(version=2**62, rules=[m.AssignmentRule(strategy=42)] * 3)),
        ("ConvertLead", m.ConvertLeadRequest(lead_id="x" * 5000, request_id="r" * 5000)),
    ]
    calls = [(name, getattr(m, f"{name}Request")()) for name in UNARY] + weird
    for caller in callers:
        for name, request in calls:
            try:
                getattr(leads, name)(request, metadata=caller, timeout=TIMEOUT_S)
            except grpc.RpcError as error:
                assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (name, error.details())
    # Bytes that are not a protobuf message at all.
    for name in ("CreateLead", "ListLeads", "ConvertLead"):
        raw = channel.unary_unary(f"/crm.leads.v1.LeadService/{name}", request_serializer=None,
                                  response_deserializer=None)
        for body in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\x0f", os.urandom(64)):
            try:
                raw(body, metadata=REP, timeout=TIMEOUT_S)
            except grpc.RpcError as error:
                assert error.code() != grpc.StatusCode.UNKNOWN, (name, error.details())
    process.assert_alive()
    assert leads.GetSettings(m.GetSettingsRequest(), metadata=REP, timeout=TIMEOUT_S).settings.version >= 1


def test_health_reports_each_hosted_service_without_a_token(suite):
    from grpc.health.v1 import health_pb2, health_pb2_grpc
    start_leads(suite)
    health = health_pb2_grpc.HealthStub(suite.channel("leads"))
    for service in ("", "crm.leads.v1.LeadService", "crm.events.v1.EventSink"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S).status
        assert status == health_pb2.HealthCheckResponse.SERVING, service
