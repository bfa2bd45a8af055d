"""Case "myday": MyDay through the gateway on a demo organisation of realistic size (--teams T teams of a
manager and --reps R reps; each rep with 25 customers (every fifth a key customer), 30 leads, 12
opportunities with 2 follow-ups and a task each, 6 tickets), all created through the gateway with the
reps' own bearer tokens. The gateway and the five services share the one server core; MyDay fans out
to leads, opportunities (3 sections), customers and tickets for every call. The clock then moves on
20 hours, so the morning has due and overdue steps and leads nearing their R2 deadline. Measured beside nghttpd
serving the same answer bytes (the HTTP/2 floor for an answer of that size)."""

from __future__ import annotations

import time
from pathlib import Path

from directory import GatewayDirectory, bearer
from harness import framed, measure, set_clock, start_suite, stop_all, stubs, table
from seed import DAY_MS, START_MS

HOUR_MS = DAY_MS // 24

PATH = "/crm.gateway.v1.GatewayService/MyDay"


def seed_org(address: str, teams: int, reps: int) -> list[tuple[str, str]]:
    """Creates the organisation; returns (user id, token) of every rep."""
    import grpc
    from crm.customers.v1 import customers_pb2 as cpb, customers_pb2_grpc
    from crm.leads.v1 import leads_pb2 as lpb, leads_pb2_grpc
    from crm.opportunities.v1 import opportunities_pb2 as opb, opportunities_pb2_grpc
    from crm.tickets.v1 import tickets_pb2 as tpb, tickets_pb2_grpc
    directory = GatewayDirectory(address)
    channel = grpc.insecure_channel(address)
    customers = customers_pb2_grpc.CustomerServiceStub(channel)
    leads = leads_pb2_grpc.LeadServiceStub(channel)
    opportunities = opportunities_pb2_grpc.OpportunityServiceStub(channel)
    tickets = tickets_pb2_grpc.TicketServiceStub(channel)
    people = []
    n = 0
    for t in range(teams):
        team = directory.team(f"Team {t}")
        directory.user(f"Manager {t}", "manager", team)
        for r in range(reps):
            user, token = directory.user(f"Rep {t}-{r}", "rep", team)
            people.append((user, token))
            md = bearer(token)
            for c in range(25):
                n += 1
                customer = customers.CreateCustomer(cpb.CreateCustomerRequest(
                    request_id=f"c{n}", customer=cpb.CustomerInput(name=f"Customer {t}-{r}-{c}", region=f"region-{c % 5}",
                                                                   industry=f"industry-{c % 7}")), metadata=md, timeout=30).customer
                contact = customers.AddContact(cpb.AddContactRequest(
                    request_id=f"k{n}", customer_id=customer.id, contact=cpb.ContactInput(
                        name=f"Contact {n}", phone=f"+49 151 {n // 10000:04d} {n % 10000:04d}", key_person=True)),
                    metadata=md, timeout=30).contact
                if c % 5 == 0:
                    current = customers.GetCustomer(cpb.GetCustomerRequest(customer_id=customer.id), metadata=md,
                                                    timeout=30).customer
                    customer = customers.MarkKey(cpb.MarkKeyRequest(customer_id=customer.id, version=current.version,
                                                                    key=True, reason="strategic account"),
                                                 metadata=md, timeout=30).customer
                if c < 12:
                    opportunity = opportunities.CreateOpportunity(opb.CreateOpportunityRequest(
                        request_id=f"o{n}", customer_id=customer.id, title=f"Deal {n}", amount_cents=500_000 + n * 100,
                        currency="EUR", key_person_contact_id=contact.id, need="Automate packing",
                        budget_cents=900_000, expected_close_date="2026-01-30", competitors=["Acme"],
                        next_step="Call the CFO", next_step_due_ms=START_MS + (c % 3 + 1) * DAY_MS),
                        metadata=md, timeout=30).opportunity
                    for f in range(2):
                        opportunities.RecordFollowUp(opb.RecordFollowUpRequest(
                            request_id=f"f{n}-{f}", opportunity_id=opportunity.id, type=opb.ACTIVITY_TYPE_CALL,
                            conclusion="CFO confirmed the budget is approved for Q1",
                            next_step="Send the revised proposal", next_step_due_ms=START_MS + (f + 1 + c % 2) * HOUR_MS),
                            metadata=md, timeout=30)
                    opportunities.CreateTask(opb.CreateTaskRequest(
                        request_id=f"t{n}", opportunity_id=opportunity.id, title="Prepare the demo",
                        due_ms=START_MS + (c % 4 + 1) * 6 * HOUR_MS), metadata=md, timeout=30)
                if c < 6:
                    tickets.CreateTicket(tpb.CreateTicketRequest(
                        request_id=f"s{n}", kind=tpb.TICKET_KIND_SERVICE_REQUEST, customer_id=customer.id,
                        title=f"Printer jams ({n})"), metadata=md, timeout=30)
            for l in range(30):
                n += 1
                leads.CreateLead(lpb.CreateLeadRequest(request_id=f"l{n}", routing=lpb.INTAKE_ROUTING_CALLER,
                                                       lead=lpb.LeadInput(
                    source=lpb.LEAD_SOURCE_WEBSITE, scenario="filled the contact form", contact_name=f"Lead {n}",
                    phone=f"+49 160 {n // 10000:04d} {n % 10000:04d}", company=f"Prospect {n}",
                    background="mid-size logistics firm", initial_need="route planning")), metadata=md, timeout=30)
    directory.close()
    channel.close()
    return people


def run(args, work: Path, summary: list[str]) -> None:
    from case_health import nghttpd_floor
    stubs()
    import grpc
    from crm.gateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc
    clock = work / "clock"
    set_clock(clock, START_MS)
    servers = {}
    try:
        start_suite(work, clock, servers)
        gateway = servers["gateway"]
        started = time.monotonic()
        people = seed_org(gateway.address, args.teams, args.reps)
        print(f"\n  demo organisation: {args.teams} teams, {len(people)} reps, seeded through the gateway in "
              f"{time.monotonic() - started:.0f} s")
        set_clock(clock, START_MS + 20 * HOUR_MS)  # the next morning: steps due and overdue, R2 warnings
        user, token = people[len(people) // 2]
        stub = gateway_pb2_grpc.GatewayServiceStub(grpc.insecure_channel(gateway.address))
        answer = stub.MyDay(pb.MyDayRequest(), metadata=bearer(token), timeout=30)
        assert answer.complete and not answer.errors, answer.errors
        sizes = {f: len(getattr(answer, f)) for f in ("leads_to_activate", "due_tasks", "focus_customers",
                                                       "focus_opportunities", "at_risk", "tickets_due")}
        assert answer.leads_to_activate and answer.focus_customers, sizes
        body = work / "myday.bin"
        body.write_bytes(framed(pb.MyDayRequest().SerializeToString()))
        floor = nghttpd_floor(PATH, framed(answer.SerializeToString()), body, args, work, "myday")
        cpu_before = {name: server.cpu_seconds() for name, server in servers.items()}
        mine = measure("crm-gateway MyDay (+5 services, one core)", gateway, PATH, body, args, work,
                       [f"authorization: Bearer {token}"], requests=args.myday_requests,
                       peak_of=list(servers.values()))
        mine.note = "peak RSS: all six processes"
        rss = {name: server.peak_rss_mb() for name, server in servers.items()}
        calls = max(args.myday_requests // 10, 1000) + args.rounds * args.myday_requests
        cpu = {name: (server.cpu_seconds() - cpu_before[name]) * 1000 / calls for name, server in servers.items()}
    finally:
        stop_all(servers)
    table(f"MyDay through the gateway: {args.myday_requests} requests x {args.rounds} rounds, answer of "
          f"{len(answer.SerializeToString())} bytes with sections {sizes}", [floor, mine])
    line = f"  MyDay through the gateway: {mine.round.rps:.0f} req/s, p50 {mine.round.p50_ms:.2f} ms, " \
           f"p99 {mine.round.p99_ms:.2f} ms ({mine.round.rps / floor.round.rps * 100:.1f}% of nghttpd serving the same bytes)"
    print(line)
    summary.append(line)
    where = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    print(f"  CPU ms per MyDay by process: {where} (total {sum(cpu.values()):.2f} ms)")
    summary.append(f"  MyDay CPU ms per call by process: {where}")
    summary.append("  loaded RSS during MyDay: " + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items()))
