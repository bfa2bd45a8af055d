"""Records owned by team-a in each service, and requests aimed at them, for the auth matrix
(test_reliability_auth.py). Each `seed_<service>` creates its records over the real RPCs as
owner-a (a rep of team-a) and returns the ids a request may name; `aimed_request` fills every id
field of any method's request with those ids, so one generic builder reaches every method."""

from __future__ import annotations

import itertools

from suite import DAY_MS, identity

OWNER_A = identity("owner-a", "rep", "team-a")
TIMEOUT_S = 10
_n = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_n)}"


def seed_leads(channel, now_ms: int) -> dict:
    from crm.leads.v1 import leads_pb2 as pb, leads_pb2_grpc
    from leads_support import lead_input
    stub = leads_pb2_grpc.LeadServiceStub(channel)
    lead = stub.CreateLead(pb.CreateLeadRequest(request_id=_unique("auth"), lead=lead_input(),
                                                routing=pb.INTAKE_ROUTING_CALLER),
                           metadata=OWNER_A, timeout=TIMEOUT_S).lead
    assert lead.owner_id == "owner-a", lead
    return {"lead_id": lead.id, "version": lead.version, "owner_id": "owner-a", "team_id": "team-a",
            "user_id": "owner-a"}


def seed_customers(channel, now_ms: int) -> dict:
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    stub = customers_pb2_grpc.CustomerServiceStub(channel)
    created = stub.CreateCustomer(pb.CreateCustomerRequest(
        request_id=_unique("auth"), customer=pb.CustomerInput(name=_unique("Team A Customer"), region="North")),
        metadata=OWNER_A, timeout=TIMEOUT_S).customer
    contact = stub.AddContact(pb.AddContactRequest(
        request_id=_unique("auth"), customer_id=created.id,
        contact=pb.ContactInput(name="Clara Contact", phone="+49 151 1111 2222")),
        metadata=OWNER_A, timeout=TIMEOUT_S).contact
    customer = stub.GetCustomer(pb.GetCustomerRequest(customer_id=created.id), metadata=OWNER_A,
                                timeout=TIMEOUT_S).customer
    return {"customer_id": customer.id, "contact_id": contact.id, "version": customer.version,
            "owner_id": "owner-a", "team_id": "team-a", "user_id": "owner-a", "new_owner_id": "owner-a"}


def seed_opportunities(channel, now_ms: int) -> dict:
    from crm.opportunities.v1 import opportunities_pb2 as pb, opportunities_pb2_grpc
    stub = opportunities_pb2_grpc.OpportunityServiceStub(channel)
    opportunity = stub.CreateOpportunity(pb.CreateOpportunityRequest(
        request_id=_unique("auth"), customer_id="cus_team_a", title="Team A deal", amount_cents=5_000_000,
        currency="EUR", key_person_contact_id="contact-cfo", need="Automate packing", budget_cents=6_000_000,
        expected_close_date="2026-03-31", competitors=["Acme"], next_step="Call the CFO",
        next_step_due_ms=now_ms + DAY_MS), metadata=OWNER_A, timeout=TIMEOUT_S).opportunity
    task = stub.CreateTask(pb.CreateTaskRequest(
        request_id=_unique("auth"), opportunity_id=opportunity.id, title="Send the proposal",
        due_ms=now_ms + DAY_MS), metadata=OWNER_A, timeout=TIMEOUT_S).task
    return {"opportunity_id": opportunity.id, "task_id": task.id, "customer_id": "cus_team_a",
            "version": opportunity.version, "owner_id": "owner-a", "team_id": "team-a", "user_id": "owner-a"}


def seed_tickets(channel, now_ms: int) -> dict:
    from crm.tickets.v1 import tickets_pb2 as pb, tickets_pb2_grpc
    stub = tickets_pb2_grpc.TicketServiceStub(channel)
    ticket = stub.CreateTicket(pb.CreateTicketRequest(
        request_id=_unique("auth"), kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id="cus_team_a",
        title="Printer jams on every second page"), metadata=OWNER_A, timeout=TIMEOUT_S).ticket
    return {"ticket_id": ticket.id, "customer_id": "cus_team_a", "version": ticket.version,
            "owner_id": "owner-a", "team_id": "team-a", "user_id": "owner-a"}


def seed_forecast(channel, now_ms: int) -> dict:
    """One open deal of owner-a learned from an OPPORTUNITY_CREATED event; forecast figures belong to
    a team or a person, so asking for team-a's as someone of team-b is the probe."""
    from crm.events.v1 import events_pb2_grpc
    from forecast_events import Producer
    producer = Producer(events_pb2_grpc.EventSinkStub(channel))
    producer.created("opp_team_a", owner="owner-a", team="team-a", amount=5_000_000, close_ms=now_ms + 30 * DAY)
    producer.flush()
    return {"opportunity_id": "opp_team_a", "team_id": "team-a", "user_id": "owner-a", "owner_id": "owner-a",
            "period": "2026-Q1"}


# The ids of records each service owns (others, like an opportunity's customer_id, are references
# another team may legitimately name in its own records).
OWN_RECORDS = {"leads": ["lead_id"], "customers": ["customer_id", "contact_id"],
               "opportunities": ["opportunity_id", "task_id"], "tickets": ["ticket_id"], "forecast": ["opportunity_id"]}

SEEDERS = {"leads": seed_leads, "customers": seed_customers, "opportunities": seed_opportunities,
           "tickets": seed_tickets, "forecast": seed_forecast}


def aimed_request(method, ids: dict):
    """The method's request with every field that names a record, owner, team or version set to
    team-a's values (recursively into sub-messages one level deep), plus a fresh request_id."""
    message = method.input()
    _aim(message, ids, depth=0)
    return message


def _aim(message, ids: dict, depth: int) -> None:
    from google.protobuf.descriptor import FieldDescriptor as F
    for field in message.DESCRIPTOR.fields:
        repeated = _repeated(field)
        if field.name == "request_id" and field.type == F.TYPE_STRING:
            setattr(message, field.name, _unique("auth-req"))
        elif field.name in ids and field.type == F.TYPE_STRING:
            value = str(ids[field.name])
            getattr(message, field.name).append(value) if repeated else setattr(message, field.name, value)
        elif field.name.endswith("_ids") and field.name[:-1] in ids and repeated and field.type == F.TYPE_STRING:
            getattr(message, field.name).append(str(ids[field.name[:-1]]))
        elif field.name == "version" and "version" in ids and field.type == F.TYPE_INT64 and not repeated:
            setattr(message, field.name, int(ids["version"]))
        elif field.type == F.TYPE_MESSAGE and not repeated and depth < 1 \
                and not field.message_type.GetOptions().map_entry:
            sub = getattr(message, field.name)
            _aim(sub, ids, depth + 1)
            if sub.ByteSize() == 0:
                message.ClearField(field.name)


def _repeated(field) -> bool:
    is_repeated = getattr(field, "is_repeated", None)
    if is_repeated is not None:
        return is_repeated if isinstance(is_repeated, bool) else is_repeated()
    return field.label == field.LABEL_REPEATED


# Fields a request needs besides the aimed ids to get past input validation, so the answer is about
# who is asking and not about a missing field. Enum values are given by name.
VALID_FIELDS = {
    "CreateLead": {"routing": "INTAKE_ROUTING_OWNER"},
    "RecordContact": {"channel": "CONTACT_CHANNEL_PHONE_CALL", "outcome": "CONTACT_OUTCOME_REACHED", "note": "spoke"},
    "DisqualifyLead": {"reason": "DISQUALIFY_REASON_NO_NEED", "note": "no budget this year"},
    "RecordSourceSpend": {"source": "LEAD_SOURCE_TRADE_SHOW", "month": "2026-01", "currency": "EUR",
                          "amount_cents": 100_000},
    "ArchiveCustomer": {"reason": "duplicate of another record"},
    "FindDuplicates": {"name": "Team A Customer"},
    "ChangeLifecycle": {"to_status": "LIFECYCLE_STATUS_INTERESTED"},
    "MarkKey": {"key": True, "reason": "strategic account"},
    "AdvanceStage": {"to_stage": "STAGE_NEEDS_CONFIRMED", "reason": "needs confirmed"},
    "RecordFollowUp": {"type": "ACTIVITY_TYPE_CALL", "conclusion": "CFO confirmed the budget is approved for Q1",
                       "next_step": "Send the revised proposal", "next_step_due_ms": "now+2d"},
    "CreateTask": {"title": "Send the proposal", "due_ms": "now+1d"},
    "RescheduleTask": {"due_ms": "now+3d", "reason": "customer asked for next week"},
    "SnoozeRisk": {"reason": "customer on holiday", "resume_at_ms": "now+3d"},
    "MarkWon": {"signed_amount_cents": 5_000_000, "signed_date": "2026-01-05"},
    "UpdateOpportunity": {"title": "Renamed by another team", "reason": "taking it over"},
    "UpdateTicket": {"title": "Renamed by another team", "reason": "taking it over"},
    "UpdateTicketStatus": {"to_status": "TICKET_STATUS_IN_PROGRESS"},
    "AddComment": {"body": "a comment from another team"},
    "CreateOpportunity": {"title": "Another team's deal", "amount_cents": 5_000_000, "currency": "EUR",
                          "key_person_contact_id": "contact-cfo", "need": "Automate packing",
                          "budget_cents": 6_000_000, "expected_close_date": "2026-03-31",
                          "competitors": ["Acme"], "next_step": "Call the CFO", "next_step_due_ms": "now+1d"},
    "AddContact": {},
    "CreateTicket": {"kind": "TICKET_KIND_SERVICE_REQUEST", "title": "Printer jams on every second page"},
}
DAY = 24 * 3_600_000


def complete(message, method_name: str, now_ms: int, lead_input=None, customer_input=None) -> None:
    """Sets VALID_FIELDS[method_name] on `message` (enum names resolved, "now+Nd" as a time)."""
    from google.protobuf.descriptor import FieldDescriptor as F
    for name, value in VALID_FIELDS.get(method_name, {}).items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if isinstance(value, str) and value.startswith("now+"):
            value = now_ms + int(value[4:-1]) * DAY
        elif field.type == F.TYPE_ENUM and isinstance(value, str):
            value = field.enum_type.values_by_name[value].number
        if isinstance(value, list):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    if method_name == "CreateLead" and lead_input is not None:
        message.lead.CopyFrom(lead_input)
    if method_name == "CreateCustomer":
        message.customer.name = _unique("Another Team Customer")
    if method_name == "AddContact":
        message.contact.name, message.contact.phone = "Bob Contact", "+49 151 3333 4444"
    if method_name == "SetTargets":
        message.targets.currency = "EUR"


def import_directory(channel, admin_token: str, now_ms: int) -> None:
    """Gives the gateway's directory the users the identities name (owner-a in team-a; rep-b and
    manager-b in team-b), with those exact ids, so services that look up an owner's team (to
    refuse a manager giving a record to another team's user) get real answers."""
    from crm.gateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    records = [pb.DirectoryExportRecord(team=pb.Team(id=t, version=1, name=t, created_at_ms=now_ms))
               for t in ("team-a", "team-b")]
    for user, role, team in (("owner-a", pb.ROLE_REP, "team-a"), ("manager-a", pb.ROLE_MANAGER, "team-a"),
                             ("rep-b", pb.ROLE_REP, "team-b"), ("manager-b", pb.ROLE_MANAGER, "team-b")):
        records.append(pb.DirectoryExportRecord(user=pb.User(
            id=user, version=1, name=user, email=f"{user}@example.com", role=role, team_id=team, active=True,
            created_at_ms=now_ms, updated_at_ms=now_ms)))
    result = stub.ImportDirectory(iter(pb.ImportDirectoryRequest(record=r) for r in records),
                                  metadata=(("authorization", f"Bearer {admin_token}"),), timeout=TIMEOUT_S)
    failed = [r for r in result.results if not r.ok]
    assert not failed, failed
