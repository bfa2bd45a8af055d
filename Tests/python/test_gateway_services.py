"""crm-gateway in front of the real services (issue 8 "Done when"): a direct call without the
service token is refused, a rep's views never contain another rep's records, and with crm-tickets
stopped CustomerOverview still answers with the rest and names the missing part. Everything goes
through the gateway with stock grpcio stubs and bearer tokens, as a client would."""

from __future__ import annotations

import time

import grpc
import pytest

from gateway_fakes import ADMIN_TOKEN, Directory, wait_until
from suite import SERVICE_TOKEN, identity

T = 15


@pytest.fixture
def crm(suite):
    """The whole suite behind the gateway, a team with a manager and two reps."""
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    for name in ("customers", "opportunities", "tickets", "leads", "forecast"):
        suite.start(name)
    channel = suite.channel("gateway")
    directory = Directory(channel)
    team = directory.team("North")
    people = {
        "boss": directory.person("Boss", "manager", team.id),
        "ann": directory.person("Ann", "rep", team.id),
        "bob": directory.person("Bob", "rep", team.id),
    }
    from crm.customers.v1 import customers_pb2, customers_pb2_grpc
    from crm.gateway.v1 import gateway_pb2, gateway_pb2_grpc
    from crm.opportunities.v1 import opportunities_pb2, opportunities_pb2_grpc
    from crm.tickets.v1 import tickets_pb2, tickets_pb2_grpc
    return {
        "suite": suite, "team": team, **people,
        "gw": gateway_pb2_grpc.GatewayServiceStub(channel), "gpb": gateway_pb2,
        "customers": customers_pb2_grpc.CustomerServiceStub(channel), "cpb": customers_pb2,
        "opportunities": opportunities_pb2_grpc.OpportunityServiceStub(channel), "opb": opportunities_pb2,
        "tickets": tickets_pb2_grpc.TicketServiceStub(channel), "tpb": tickets_pb2,
    }


def create_customer(crm, owner, name):
    cpb = crm["cpb"]
    digits = "".join(str(ord(c) % 10) for c in name)[:6].ljust(6, "0")
    response = crm["customers"].CreateCustomer(cpb.CreateCustomerRequest(
        request_id=f"cust-{name}",
        customer=cpb.CustomerInput(name=name, industry="Manufacturing", region="North", phone=f"+49 30 1{digits}"),
        contacts=[cpb.ContactInput(name=f"{name} Buyer", job_title="Head of Purchasing", phone=f"+49 30 7{digits}",
                                   email=f"buyer@{name.lower()}.example", key_person=True)]),
        metadata=owner.md(), timeout=T)
    return response.customer


def test_direct_calls_without_the_service_token_are_refused(crm):
    suite, cpb = crm["suite"], crm["cpb"]
    from crm.customers.v1 import customers_pb2_grpc
    direct = customers_pb2_grpc.CustomerServiceStub(suite.channel("customers"))
    ann = crm["ann"]
    for metadata in (identity(ann.id, "rep", crm["team"].id, token="wrong-token"),
                     identity(ann.id, "rep", crm["team"].id)[1:],  # identity claimed, no token
                     ann.md()):  # a user's bearer token is not a service token
        with pytest.raises(grpc.RpcError) as info:
            direct.ListCustomers(cpb.ListCustomersRequest(), metadata=metadata, timeout=T)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
    # The same call through the gateway, with the user's token, is admitted.
    crm["customers"].ListCustomers(cpb.ListCustomersRequest(), metadata=ann.md(), timeout=T)


def test_a_reps_views_never_contain_another_reps_records(crm):
    ann, bob, boss = crm["ann"], crm["bob"], crm["boss"]
    cpb, gpb = crm["cpb"], crm["gpb"]
    mine = create_customer(crm, ann, "Anvil")
    theirs = create_customer(crm, bob, "Bellows")
    assert mine.owner_id == ann.id and theirs.owner_id == bob.id  # identity came from the token

    listed = crm["customers"].ListCustomers(cpb.ListCustomersRequest(), metadata=ann.md(), timeout=T).customers
    assert [c.id for c in listed] == [mine.id]
    with pytest.raises(grpc.RpcError) as info:
        crm["customers"].GetCustomer(cpb.GetCustomerRequest(customer_id=theirs.id), metadata=ann.md(), timeout=T)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    # The combined view: another rep's customer is NOT_FOUND exactly like a missing one.
    for customer_id in (theirs.id, "cus_missing"):
        with pytest.raises(grpc.RpcError) as info:
            crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=customer_id), metadata=ann.md(), timeout=T)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, customer_id
    own = crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=mine.id), metadata=ann.md(), timeout=T)
    assert own.customer.id == mine.id and [c.name for c in own.contacts] == ["Anvil Buyer"]
    assert own.next_action.text

    # The manager sees the team's customers, in the list and in the view.
    team_view = crm["customers"].ListCustomers(cpb.ListCustomersRequest(), metadata=boss.md(), timeout=T).customers
    assert {c.id for c in team_view} == {mine.id, theirs.id}
    assert crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=theirs.id), metadata=boss.md(),
                                      timeout=T).customer.id == theirs.id

    day = crm["gw"].MyDay(gpb.MyDayRequest(), metadata=ann.md(), timeout=T)
    assert day.user_id == ann.id
    owners = {f.customer.owner_id for f in day.focus_customers} | {t.ticket.owner_id for t in day.tickets_due}
    assert owners <= {ann.id}


def test_customer_overview_with_tickets_stopped_names_the_missing_part(crm):
    suite, ann, gpb, tpb = crm["suite"], crm["ann"], crm["gpb"], crm["tpb"]
    customer = create_customer(crm, ann, "Crane")
    ticket = crm["tickets"].CreateTicket(tpb.CreateTicketRequest(
        request_id="tk-1", kind=tpb.TICKET_KIND_SERVICE if hasattr(tpb, "TICKET_KIND_SERVICE") else 1,
        customer_id=customer.id, title="Calibrate the line", details="Yearly calibration",
        due_ms=suite.clock.now_ms + 86_400_000), metadata=ann.md(), timeout=T).ticket

    # The ticket reaches crm-customers as an event (open_ticket_count, timeline): wait until both show
    # it, so nothing changes between the two views but the stopped backend. The overview reads the
    # customer and its timeline in separate calls, so one view can catch the event between them.
    deadline = time.time() + 15
    while True:
        before = crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=customer.id), metadata=ann.md(), timeout=T)
        settled = before.customer.open_ticket_count == 1 and any(e.ticket_id == ticket.id for e in before.timeline)
        if settled or time.time() > deadline:
            break
        time.sleep(0.05)
    assert before.customer.open_ticket_count == 1
    assert any(e.ticket_id == ticket.id for e in before.timeline)
    assert before.customer.id == customer.id
    assert [t.id for t in before.open_tickets] == [ticket.id]
    assert not [e for e in before.errors if e.backend == gpb.BACKEND_TICKETS]

    suite.stop("tickets")
    after = crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=customer.id), metadata=ann.md(), timeout=T)
    assert after.customer == before.customer and list(after.contacts) == list(before.contacts)
    assert list(after.timeline) == list(before.timeline)
    assert not after.complete and not after.open_tickets
    missing = [e for e in after.errors if e.backend == gpb.BACKEND_TICKETS]
    assert len(missing) == 1 and missing[0].section == "open_tickets"
    assert missing[0].code == grpc.StatusCode.UNAVAILABLE.value[0] and missing[0].code_name == "UNAVAILABLE"
    assert "tickets" in missing[0].message or suite.address("tickets") in missing[0].message

    # The gateway notices by itself when the backend is back.
    suite.start("tickets")
    again = wait_until(lambda: (lambda r: r if r.open_tickets else None)(
        crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=customer.id), metadata=ann.md(), timeout=T)),
        timeout=10)
    assert [t.id for t in again.open_tickets] == [ticket.id]
    assert not [e for e in again.errors if e.backend == gpb.BACKEND_TICKETS]


def create_opportunity(crm, owner, customer, title, amount_cents=5_000_000):
    opb, cpb = crm["opb"], crm["cpb"]
    contacts = crm["customers"].ListContacts(cpb.ListContactsRequest(customer_id=customer.id),
                                             metadata=owner.md(), timeout=T).contacts
    return crm["opportunities"].CreateOpportunity(opb.CreateOpportunityRequest(
        request_id=f"opp-{title}", customer_id=customer.id, title=title, amount_cents=amount_cents, currency="EUR",
        key_person_contact_id=contacts[0].id, need="Replace the old press line", budget_cents=amount_cents,
        expected_close_date="2026-02-27", competitors=["Acme"], next_step="Call the buyer",
        next_step_due_ms=crm["suite"].clock.now_ms + 2 * 3_600_000), metadata=owner.md(), timeout=T).opportunity


def test_views_combine_every_backend_for_the_caller_only(crm):
    ann, bob, boss, gpb = crm["ann"], crm["bob"], crm["boss"], crm["gpb"]
    anvil = create_customer(crm, ann, "Anvil")
    bellows = create_customer(crm, bob, "Bellows")
    deal = create_opportunity(crm, ann, anvil, "Press line")
    create_opportunity(crm, bob, bellows, "Blower")

    overview = crm["gw"].CustomerOverview(gpb.CustomerOverviewRequest(customer_id=anvil.id), metadata=ann.md(), timeout=T)
    assert overview.customer.id == anvil.id
    assert [o.opportunity.id for o in overview.open_opportunities] == [deal.id]
    assert not [e for e in overview.errors if e.backend in (gpb.BACKEND_CUSTOMERS, gpb.BACKEND_OPPORTUNITIES,
                                                             gpb.BACKEND_TICKETS)], overview.errors
    for item in overview.open_opportunities:
        if item.HasField("probability"):
            assert item.probability.opportunity_id == deal.id and 0 <= item.probability.probability <= 1

    # MyDay: Ann's next step is there, Bob's is not; the manager can open Ann's day.
    day = crm["gw"].MyDay(gpb.MyDayRequest(), metadata=ann.md(), timeout=T)
    assert [t.task.opportunity_id for t in day.due_tasks] == [deal.id], day
    assert day.summary.tasks_due + day.summary.tasks_overdue == 1
    assert {o.opportunity.owner_id for o in day.focus_opportunities} <= {ann.id}
    assert not [e for e in day.errors if e.backend in (gpb.BACKEND_OPPORTUNITIES, gpb.BACKEND_CUSTOMERS)], day.errors
    assert [t.task.opportunity_id for t in crm["gw"].MyDay(gpb.MyDayRequest(user_id=ann.id), metadata=boss.md(),
                                                           timeout=T).due_tasks] == [deal.id]
    with pytest.raises(grpc.RpcError) as info:
        crm["gw"].MyDay(gpb.MyDayRequest(user_id=ann.id), metadata=bob.md(), timeout=T)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

    review = crm["gw"].PipelineReview(gpb.PipelineReviewRequest(), metadata=boss.md(), timeout=T)
    assert review.team_id == crm["team"].id and review.period == "2026-01"
    assert not [e for e in review.errors if e.backend == gpb.BACKEND_OPPORTUNITIES], review.errors
