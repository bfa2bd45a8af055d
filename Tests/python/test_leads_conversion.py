"""crm-leads ConvertLead against the real crm-customers and crm-opportunities: R3 facts checked before
any peer call, idempotency (twice -> one customer, one opportunity), a peer down -> UNAVAILABLE with the
lead recoverable, and success after the peer restarts without duplicates."""

from __future__ import annotations

import grpc
import pytest

from leads_support import (
    DAY_MS, TIMEOUT_S, admin, assert_status, create, eventually, get, identity, lead_input, leads_stub, pb,
    quiet_sweeps, rpc_error, start_leads,
)

REP = identity("rep-a", "rep", "team-a")


def customers_pb():
    from crm.customers.v1 import customers_pb2
    return customers_pb2


def opportunities_pb():
    from crm.opportunities.v1 import opportunities_pb2
    return opportunities_pb2


@pytest.fixture
def crm(suite):
    from crm.customers.v1 import customers_pb2_grpc
    from crm.opportunities.v1 import opportunities_pb2_grpc
    suite.start("customers")
    suite.start("opportunities")
    start_leads(suite)
    leads = leads_stub(suite)
    quiet_sweeps(leads)
    return dict(
        leads=leads,
        customers=customers_pb2_grpc.CustomerServiceStub(suite.channel("customers")),
        opportunities=opportunities_pb2_grpc.OpportunityServiceStub(suite.channel("opportunities")),
    )


def activated_lead(leads, **overrides):
    lead = create(leads, REP, lead_input(**overrides), routing=pb().INTAKE_ROUTING_CALLER).lead
    return leads.RecordContact(pb().RecordContactRequest(
        lead_id=lead.id, channel=pb().CONTACT_CHANNEL_PHONE_CALL, outcome=pb().CONTACT_OUTCOME_INTERESTED),
        metadata=REP, timeout=TIMEOUT_S).lead


def opportunity_facts(**overrides):
    from suite import START_MS
    fields = dict(title="Fleet scheduling rollout", amount_cents=4_800_000, currency="EUR", budget_cents=5_000_000,
                  expected_close_date="2026-03-31", competitors=["RouteCo"], next_step="send proposal",
                  next_step_due_ms=START_MS + 2 * DAY_MS)
    fields.update(overrides)
    return pb().ConversionOpportunity(**fields)


def convert(leads, lead, request_id="convert-1", **kwargs):
    kwargs.setdefault("opportunity", opportunity_facts())
    return leads.ConvertLead(pb().ConvertLeadRequest(lead_id=lead.id, request_id=request_id, **kwargs),
                             metadata=REP, timeout=TIMEOUT_S)


def all_customers(crm):
    return list(crm["customers"].ListCustomers(customers_pb().ListCustomersRequest(page_size=100), metadata=admin(),
                                               timeout=TIMEOUT_S).customers)


def all_opportunities(crm):
    return list(crm["opportunities"].ListOpportunities(opportunities_pb().ListOpportunitiesRequest(page_size=100),
                                                       metadata=admin(), timeout=TIMEOUT_S).opportunities)


def test_facts_are_checked_before_any_peer_call(crm):
    leads = crm["leads"]
    assigned = create(leads, REP, routing=pb().INTAKE_ROUTING_CALLER).lead
    assert_status(rpc_error(convert, leads, assigned), grpc.StatusCode.FAILED_PRECONDITION, "R2")
    lead = activated_lead(leads)
    error = rpc_error(convert, leads, lead, opportunity=pb().ConversionOpportunity())
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "opportunity.budget_cents", "opportunity.currency",
                  "opportunity.expected_close_date", "opportunity.competitors", "opportunity.next_step",
                  "opportunity.next_step_due_ms")
    error = rpc_error(convert, leads, lead, opportunity=opportunity_facts(expected_close_date="2025-12-31",
                                                                         competitors=[], currency="euro"))
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "expected_close_date: in the past",
                  "opportunity.competitors", "opportunity.currency")
    assert get(leads, REP, lead.id).lead.status == pb().LEAD_STATUS_ACTIVATED
    assert all_customers(crm) == [] and all_opportunities(crm) == []


def test_convert_twice_creates_one_customer_and_one_opportunity(crm):
    leads = crm["leads"]
    lead = activated_lead(leads, company="Nordwind Spedition GmbH")
    first = convert(leads, lead)
    assert not first.replayed
    assert first.customer_id and first.opportunity_id and first.key_person_contact_id
    assert first.lead.status == pb().LEAD_STATUS_CONVERTED
    assert (first.lead.customer_id, first.lead.opportunity_id) == (first.customer_id, first.opportunity_id)
    assert [(s.step, s.state) for s in first.steps] == [
        (pb().CONVERSION_STEP_CUSTOMER, pb().STEP_STATE_DONE), (pb().CONVERSION_STEP_KEY_CONTACT, pb().STEP_STATE_DONE),
        (pb().CONVERSION_STEP_OPPORTUNITY, pb().STEP_STATE_DONE), (pb().CONVERSION_STEP_LEAD_MARKED, pb().STEP_STATE_DONE)]

    again = convert(leads, lead)
    assert again.replayed and (again.customer_id, again.opportunity_id) == (first.customer_id, first.opportunity_id)
    other_key = convert(leads, lead, request_id="convert-2")
    assert other_key.replayed and other_key.opportunity_id == first.opportunity_id

    customers = all_customers(crm)
    assert [(c.id, c.lead_id, c.name) for c in customers] == [(first.customer_id, lead.id, "Nordwind Spedition GmbH")]
    opportunities = all_opportunities(crm)
    assert [(o.id, o.customer_id) for o in opportunities] == [(first.opportunity_id, first.customer_id)]
    contacts = crm["customers"].ListContacts(customers_pb().ListContactsRequest(customer_id=first.customer_id),
                                             metadata=admin(), timeout=TIMEOUT_S).contacts
    assert [(c.id, c.key_person, c.email) for c in contacts] == [(first.key_person_contact_id, True, lead.email)]
    stored = get(leads, REP, lead.id).lead
    assert stored.status == pb().LEAD_STATUS_CONVERTED and stored.customer_id == first.customer_id
    # A converted lead is closed for other changes.
    error = rpc_error(leads.DisqualifyLead, pb().DisqualifyLeadRequest(
        lead_id=lead.id, version=stored.version, reason=pb().DISQUALIFY_REASON_OTHER, note="n"), metadata=REP,
        timeout=TIMEOUT_S)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_customers_down_answers_unavailable_then_finishes_without_duplicates(suite, crm):
    leads = crm["leads"]
    lead = activated_lead(leads)
    suite.stop("customers")
    error = rpc_error(convert, leads, lead)
    assert_status(error, grpc.StatusCode.UNAVAILABLE, "crm-customers")
    stuck = get(leads, REP, lead.id).lead
    assert stuck.status == pb().LEAD_STATUS_CONVERTING
    assert stuck.customer_id == "" and stuck.opportunity_id == ""  # never converted without both ids
    # The saga holds the lead: no other change meanwhile.
    assert rpc_error(leads.DisqualifyLead, pb().DisqualifyLeadRequest(
        lead_id=lead.id, version=stuck.version, reason=pb().DISQUALIFY_REASON_OTHER, note="n"), metadata=REP,
        timeout=TIMEOUT_S).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rpc_error(convert, leads, lead).code() == grpc.StatusCode.UNAVAILABLE  # still down: still recoverable

    suite.start("customers")
    done = eventually(lambda: convert(leads, lead), timeout_s=20)
    assert done.lead.status == pb().LEAD_STATUS_CONVERTED
    assert done.customer_id and done.opportunity_id
    assert [c.id for c in all_customers(crm)] == [done.customer_id]
    assert [o.id for o in all_opportunities(crm)] == [done.opportunity_id]


def test_opportunities_down_half_way_then_finishes_without_a_second_customer(suite, crm):
    leads = crm["leads"]
    lead = activated_lead(leads)
    suite.stop("opportunities")
    assert_status(rpc_error(convert, leads, lead), grpc.StatusCode.UNAVAILABLE, "crm-opportunities")
    assert get(leads, REP, lead.id).lead.status == pb().LEAD_STATUS_CONVERTING
    half = all_customers(crm)
    assert len(half) == 1  # the customer step finished before the failure

    suite.start("opportunities")
    done = eventually(lambda: convert(leads, lead), timeout_s=20)
    assert done.customer_id == half[0].id
    assert [(s.step, s.state) for s in done.steps][:2] == [
        (pb().CONVERSION_STEP_CUSTOMER, pb().STEP_STATE_ALREADY_DONE),
        (pb().CONVERSION_STEP_KEY_CONTACT, pb().STEP_STATE_ALREADY_DONE)]
    assert [c.id for c in all_customers(crm)] == [half[0].id]
    assert [o.id for o in all_opportunities(crm)] == [done.opportunity_id]


def test_a_refusal_before_anything_was_created_leaves_the_lead_as_it_was(crm):
    leads = crm["leads"]
    existing = crm["customers"].CreateCustomer(customers_pb().CreateCustomerRequest(
        request_id="pre-existing", customer=customers_pb().CustomerInput(name="Acme Freight AG")),
        metadata=REP, timeout=TIMEOUT_S).customer
    lead = activated_lead(leads, company="Acme Freight AG")
    error = rpc_error(convert, leads, lead)
    assert_status(error, grpc.StatusCode.ALREADY_EXISTS, "crm-customers", "unchanged")
    back = get(leads, REP, lead.id).lead
    assert back.status == pb().LEAD_STATUS_ACTIVATED and back.version == lead.version
    linked = convert(leads, lead, request_id="convert-linked", existing_customer_id=existing.id, version=lead.version)
    assert linked.customer_id == existing.id
    assert linked.steps[0].state == pb().STEP_STATE_LINKED
    assert linked.steps[1].state == pb().STEP_STATE_DONE  # key person added to the existing customer
    assert len(all_customers(crm)) == 1


def test_events_flow_both_ways(crm):
    """LEAD_CONVERTED reaches crm-customers (lifecycle NEW -> INTERESTED); the won deal's DEAL_WON comes back
    from crm-opportunities and shows up as won money of the lead's source (line 1 ROI)."""
    leads = crm["leads"]
    lead = activated_lead(leads, source=pb().LEAD_SOURCE_CUSTOMER_REFERRAL)
    done = convert(leads, lead)

    def interested():
        customer = crm["customers"].GetCustomer(customers_pb().GetCustomerRequest(customer_id=done.customer_id),
                                                metadata=admin(), timeout=TIMEOUT_S).customer
        assert customer.lifecycle_status == customers_pb().LIFECYCLE_STATUS_INTERESTED
    eventually(interested, timeout_s=20)

    opp_pb = opportunities_pb()
    opportunity = crm["opportunities"].GetOpportunity(opp_pb.GetOpportunityRequest(opportunity_id=done.opportunity_id),
                                                      metadata=REP, timeout=TIMEOUT_S).opportunity
    crm["opportunities"].MarkWon(opp_pb.MarkWonRequest(
        opportunity_id=opportunity.id, version=opportunity.version, signed_amount_cents=4_500_000,
        signed_date="2026-01-05", facts=opp_pb.StageFacts(
            needs_summary="40 trucks, 3 depots", quote_amount_cents=4_800_000, quote_date="2026-01-05",
            negotiation_points=opp_pb.StringList(values=["payment terms"]), contract_document_ref="DMS-4711")),
        metadata=REP, timeout=TIMEOUT_S)

    def won():
        report = leads.SourceReport(pb().SourceReportRequest(currency="EUR"), metadata=admin(), timeout=TIMEOUT_S)
        row = {r.source: r for r in report.rows}[pb().LEAD_SOURCE_CUSTOMER_REFERRAL]
        assert (row.converted, row.won_count, row.won_amount_cents) == (1, 1, 4_500_000)
    eventually(won, timeout_s=20)
