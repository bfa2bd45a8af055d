"""crm-customers end to end with the real crm-opportunities and crm-tickets executables: an
opportunity's creation, stage moves, follow-ups and win, and the after-sales line crm-tickets opens,
reach the customer's lifecycle, counts and timeline through the outbox; the customer's owner change
reaches the open deals and tickets. Every process is the real binary over gRPC."""

from __future__ import annotations

import time

import grpc
import pytest

from customers_support import start_customers
from suite import DAY_MS, identity

REP = identity("rep-a", "rep", "team-a")
MANAGER = identity("manager-a", "manager", "team-a")


def wait_until(check, timeout: float = 20.0):
    """Polls `check` until it returns a truthy value (event delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_opportunity_and_ticket_events_drive_the_customer(suite):
    crm = start_customers(suite)
    suite.start("opportunities")
    suite.start("tickets")
    from crm.opportunities.v1 import opportunities_pb2 as o, opportunities_pb2_grpc
    from crm.tickets.v1 import tickets_pb2 as t, tickets_pb2_grpc
    opp = opportunities_pb2_grpc.OpportunityServiceStub(suite.channel("opportunities"))
    tickets = tickets_pb2_grpc.TicketServiceStub(suite.channel("tickets"))
    pb = crm.pb

    created = crm.create(REP, "Suite Manufacturing", contacts=[pb.ContactInput(
        name="Carla CFO", role=pb.CONTACT_ROLE_DECISION_MAKER, email="carla@suite.example", key_person=True)])
    customer, contact = created.customer, created.contacts[0]

    deal = opp.CreateOpportunity(o.CreateOpportunityRequest(
        request_id="suite-opp-1", customer_id=customer.id, title="Packaging line", amount_cents=5_000_000,
        currency="EUR", key_person_contact_id=contact.id, need="Automate packing", budget_cents=6_000_000,
        expected_close_date="2026-03-31", competitors=["Acme Automation"], next_step="Call the CFO",
        next_step_due_ms=suite.clock.now_ms + DAY_MS), metadata=REP, timeout=10).opportunity

    def get():
        return crm.get(customer.id, REP)

    assert wait_until(lambda: get().open_opportunity_count == 1), "OPPORTUNITY_CREATED never arrived"

    deal = opp.AdvanceStage(o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_QUOTE, facts=o.StageFacts(
            needs_summary="Two lines, 40 boxes a minute", quote_amount_cents=4_800_000, quote_date="2026-01-06")),
        metadata=REP, timeout=10).opportunity
    assert wait_until(lambda: get().lifecycle_status == pb.LIFECYCLE_STATUS_QUOTING), get()

    suite.clock.advance(hours=2)
    opp.RecordFollowUp(o.RecordFollowUpRequest(
        request_id="suite-fu-1", opportunity_id=deal.id, type=o.ACTIVITY_TYPE_VISIT,
        conclusion="CFO approved the budget for the retrofit", next_step="Send the contract draft",
        next_step_due_ms=suite.clock.now_ms + DAY_MS), metadata=REP, timeout=10)
    assert wait_until(lambda: get().last_activity_at_ms == suite.clock.now_ms)
    deal = opp.GetOpportunity(o.GetOpportunityRequest(opportunity_id=deal.id), metadata=REP, timeout=10).opportunity

    opp.MarkWon(o.MarkWonRequest(
        opportunity_id=deal.id, version=deal.version, signed_amount_cents=4_700_000, signed_date="2026-01-05",
        facts=o.StageFacts(negotiation_points=o.StringList(values=["payment terms"]),
                           contract_document_ref="DMS-1")), metadata=REP, timeout=10)
    assert wait_until(lambda: get().lifecycle_status == pb.LIFECYCLE_STATUS_WON), get()
    # crm-tickets opened the after-sales line (R9) and told crm-customers about it.
    assert wait_until(lambda: get().open_ticket_count > 0), "TICKET_OPENED never arrived"
    after = get()
    assert after.open_opportunity_count == 0

    line = tickets.ListTickets(t.ListTicketsRequest(customer_id=customer.id, kinds=[t.TICKET_KIND_DELIVERY]),
                               metadata=REP, timeout=10).tickets
    assert len(line) == 1
    delivery = line[0]
    for status in (t.TICKET_STATUS_IN_PROGRESS, t.TICKET_STATUS_RESOLVED):
        delivery = tickets.UpdateTicketStatus(t.UpdateTicketStatusRequest(
            ticket_id=delivery.id, version=delivery.version, to_status=status, resolution="Installed and accepted"),
            metadata=REP, timeout=10).ticket
    assert wait_until(lambda: get().lifecycle_status == pb.LIFECYCLE_STATUS_EXISTING), get()

    entries = crm.timeline(customer.id, REP)
    sources = {(e.kind, e.source_service) for e in entries}
    for kind, source in [("OPPORTUNITY_CREATED", "crm-opportunities"), ("STAGE_CHANGED", "crm-opportunities"),
                         ("FOLLOW_UP", "crm-opportunities"), ("DEAL_WON", "crm-opportunities"),
                         ("TICKET_OPENED", "crm-tickets"), ("TICKET_STATUS_CHANGED", "crm-tickets")]:
        assert (getattr(pb, f"TIMELINE_ENTRY_KIND_{kind}"), source) in sources, (kind, source)
    follow_up = next(e for e in entries if e.kind == pb.TIMELINE_ENTRY_KIND_FOLLOW_UP)
    assert "CFO approved the budget" in follow_up.summary and "Send the contract draft" in follow_up.summary

    # The owner changes: crm-tickets moves the open after-sales tickets to the new owner.
    current = get()
    crm.call("ReassignOwner", pb.ReassignOwnerRequest(customer_id=customer.id, version=current.version,
                                                      new_owner_id="rep-b", reason="rep-a left"), MANAGER)

    def open_ticket_owners():
        found = tickets.ListTickets(t.ListTicketsRequest(
            customer_id=customer.id, statuses=[t.TICKET_STATUS_OPEN, t.TICKET_STATUS_IN_PROGRESS]),
            metadata=MANAGER, timeout=10).tickets
        return {x.owner_id for x in found}

    assert wait_until(lambda: open_ticket_owners() == {"rep-b"}), open_ticket_owners()


def test_through_the_gateway_with_the_real_user_directory(suite):
    """Clients reach crm-customers through crm-gateway with bearer tokens; the owner's team comes from
    the gateway's directory (ListUsers), which decides manager visibility and who may reassign to whom."""
    from gateway_fakes import ADMIN_TOKEN, Directory
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    crm = start_customers(suite)
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    directory = Directory(suite.channel("gateway"))
    north, south = directory.team("North"), directory.team("South")
    ann = directory.person("Ann", "rep", north.id)
    bob = directory.person("Bob", "rep", south.id)
    mia = directory.person("Mia", "manager", north.id)
    ada = directory.person("Ada", "admin", north.id)
    via_gateway = customers_pb2_grpc.CustomerServiceStub(suite.channel("gateway"))

    def call(method, request, who):
        return getattr(via_gateway, method)(request, metadata=who.md(), timeout=10)

    def error(method, request, who):
        with pytest.raises(grpc.RpcError) as info:
            call(method, request, who)
        return info.value

    c = call("CreateCustomer", pb.CreateCustomerRequest(request_id="gw-1", customer=pb.CustomerInput(name="Gateway Co")),
             ann).customer
    assert (c.owner_id, c.team_id) == (ann.id, north.id)
    assert call("GetCustomer", pb.GetCustomerRequest(customer_id=c.id), mia).customer.id == c.id
    assert error("GetCustomer", pb.GetCustomerRequest(customer_id=c.id), bob).code() == grpc.StatusCode.NOT_FOUND

    # A manager creates for a rep of their team (team from the directory), never for another team's rep.
    for_ann = call("CreateCustomer", pb.CreateCustomerRequest(
        request_id="gw-2", customer=pb.CustomerInput(name="Assigned By Mia"), owner_id=ann.id), mia).customer
    assert (for_ann.owner_id, for_ann.team_id) == (ann.id, north.id)
    err = error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="gw-3", customer=pb.CustomerInput(name="Not Mias To Give"), owner_id=bob.id), mia)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "owner_id" in err.details()

    err = error("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=1, new_owner_id=bob.id), mia)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = error("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=1, new_owner_id="ghost"), ada)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "new_owner_id" in err.details()
    moved = call("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=1, new_owner_id=bob.id,
                                                          reason="account moves south"), ada).customer
    assert (moved.owner_id, moved.team_id) == (bob.id, south.id)
    # Visibility follows the new owner's team.
    assert call("GetCustomer", pb.GetCustomerRequest(customer_id=c.id), bob).customer.owner_id == bob.id
    assert error("GetCustomer", pb.GetCustomerRequest(customer_id=c.id), mia).code() == grpc.StatusCode.NOT_FOUND
    assert error("GetCustomer", pb.GetCustomerRequest(customer_id=c.id), ann).code() == grpc.StatusCode.NOT_FOUND
