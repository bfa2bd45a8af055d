"""crm-admin export / import (issue 9): every service's records as JSON Lines of its export record
in proto3 JSON, and back. For each service: fill a real store through its own RPCs, export with
the real `crm-admin`, check every line is exactly what the reference protobuf implementation
makes of the same record, import into an empty store, export again and compare: every record is
reproduced. A second import changes nothing; a broken line is named with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from admin_support import admin, ok
from suite import DAY_MS, START_MS, identity

ADMIN = identity("admin-1", "admin", "hq")
REP = identity("rep-a", "rep", "team-a")
from gateway_fakes import ADMIN_TOKEN  # noqa: E402  (the token Directory uses)
T = 10


# ---------------------------------------------------------------- filling each store

def fill_tickets(suite):
    from crm.tickets.v1 import tickets_pb2 as pb, tickets_pb2_grpc
    stub = tickets_pb2_grpc.TicketServiceStub(suite.channel("tickets"))
    for i in range(3):
        t = stub.CreateTicket(pb.CreateTicketRequest(request_id=f"t{i}", kind=pb.TICKET_KIND_SERVICE_REQUEST,
                                                     customer_id=f"cus_{i}", title=f"Printer jams {i} — ünïcode ✓",
                                                     details="line one\nline \"two\"\ttabbed"),
                              metadata=REP, timeout=T).ticket
        stub.AddComment(pb.AddCommentRequest(ticket_id=t.id, body=f"comment {i}"), metadata=REP, timeout=T)
    stub.UpdateTicketStatus(pb.UpdateTicketStatusRequest(ticket_id=t.id, version=t.version,
                                                         to_status=pb.TICKET_STATUS_RESOLVED, resolution="fixed"),
                            metadata=REP, timeout=T)
    return 3


def fill_opportunities(suite):
    from crm.opportunities.v1 import opportunities_pb2 as pb, opportunities_pb2_grpc
    stub = opportunities_pb2_grpc.OpportunityServiceStub(suite.channel("opportunities"))
    for i in range(2):
        o = stub.CreateOpportunity(pb.CreateOpportunityRequest(
            request_id=f"o{i}", customer_id=f"cust-{i}", title=f"Packaging line {i}", amount_cents=5_000_000 + i,
            currency="EUR", key_person_contact_id="contact-cfo", need="Automate end-of-line packing",
            budget_cents=6_000_000, expected_close_date="2026-03-31", competitors=["Acme", "Globex"],
            next_step="Call the CFO about the budget", next_step_due_ms=START_MS + DAY_MS), metadata=REP, timeout=T).opportunity
        stub.RecordFollowUp(pb.RecordFollowUpRequest(
            request_id=f"f{i}", opportunity_id=o.id, type=pb.ACTIVITY_TYPE_CALL,
            conclusion="CFO confirmed the budget is approved for Q1", next_step="Send the revised proposal",
            next_step_due_ms=START_MS + 2 * DAY_MS), metadata=REP, timeout=T)
    return 2


def fill_customers(suite):
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    stub = customers_pb2_grpc.CustomerServiceStub(suite.channel("customers"))
    for i in range(3):
        stub.CreateCustomer(pb.CreateCustomerRequest(
            request_id=f"c{i}", customer=pb.CustomerInput(name=f"Bäckerei Schmidt {i}", industry="Food", region="DE-North",
                                                          phone=f"+49 30 1234 56{i:02d}", tags=["bakery", f"t{i}"]),
            contacts=[pb.ContactInput(name=f"Anna {i}", email=f"anna{i}@example.com", key_person=True)]),
            metadata=REP, timeout=T)
    return 3


def fill_leads(suite):
    from leads_support import lead_input
    from crm.leads.v1 import leads_pb2 as pb, leads_pb2_grpc
    stub = leads_pb2_grpc.LeadServiceStub(suite.channel("leads"))
    for i in range(3):
        stub.CreateLead(pb.CreateLeadRequest(request_id=f"l{i}", lead=lead_input(), routing=pb.INTAKE_ROUTING_CALLER),
                        metadata=REP, timeout=T)
    return 3


def fill_forecast(suite):
    from crm.forecast.v1 import forecast_pb2 as pb, forecast_pb2_grpc
    stub = forecast_pb2_grpc.ForecastServiceStub(suite.channel("forecast"))
    targets = pb.TargetSet(period="2026-01", currency="EUR", company_amount_cents=1_000_000,
                           teams=[pb.TeamTarget(team_id="team-a", amount_cents=1_000_000,
                                                people=[pb.PersonTarget(user_id="rep-a", amount_cents=1_000_000)])])
    stub.SetTargets(pb.SetTargetsRequest(targets=targets), metadata=ADMIN, timeout=T)
    stub.TakeSnapshot(pb.TakeSnapshotRequest(request_id="snap-1", period="2026-01"), metadata=ADMIN, timeout=T)
    return 2


def fill_gateway(suite):
    from gateway_fakes import Directory
    directory = Directory(suite.channel("gateway"))
    team = directory.team("Export")
    directory.person("Ivy", "manager", team.id)
    directory.person("Jo", "rep", team.id)
    return None  # team, users and tokens: counted from the export itself


FILLERS = {"tickets": fill_tickets, "opportunities": fill_opportunities, "customers": fill_customers,
           "leads": fill_leads, "forecast": fill_forecast, "gateway": fill_gateway}
RECORDS = {"tickets": ("crm.tickets.v1.tickets_pb2", "TicketExportRecord"),
           "opportunities": ("crm.opportunities.v1.opportunities_pb2", "OpportunityExportRecord"),
           "customers": ("crm.customers.v1.customers_pb2", "CustomerExportRecord"),
           "leads": ("crm.leads.v1.leads_pb2", "LeadExportRecord"),
           "forecast": ("crm.forecast.v1.forecast_pb2", "ForecastExportRecord"),
           "gateway": ("crm.gateway.v1.gateway_pb2", "DirectoryExportRecord")}


def start(suite, service, directory: Path):
    """crm-<service> on a store in `directory` (leads: sweeps off; gateway: with the admin token)."""
    extra = ["--db", str(directory / f"{service}.sqlite")]
    if service == "gateway":
        extra += ["--admin-token", ADMIN_TOKEN]
    if service == "leads":
        extra += ["--directory-cache-ms", "0"]
    return suite.start(service, *extra)


def access(suite, service):
    """How crm-admin reaches the service: directly with the service token, the gateway with a bearer token."""
    if service == "gateway":
        return ["--addr", suite.address("gateway"), "--token", ADMIN_TOKEN]
    return ["--addr", suite.address(service)]


def reference_dict(service, line: str) -> dict:
    """What the reference implementation (Python protobuf) makes of the same JSON: parse strictly, re-serialise."""
    import importlib
    from google.protobuf import json_format
    module, name = RECORDS[service]
    record = getattr(importlib.import_module(module), name)()
    json_format.Parse(line, record)  # strict: unknown fields or wrong types raise
    return json_format.MessageToDict(record)


@pytest.mark.parametrize("service", list(FILLERS))
def test_export_then_import_into_an_empty_store_reproduces_every_record(suite, tmp_path, service):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    start(suite, service, first)
    expected = FILLERS[service](suite)

    exported = tmp_path / "export.jsonl"
    run = ok("export", "--service", service, "--out", exported, *access(suite, service))
    lines = exported.read_text().splitlines()
    if expected is not None:
        assert len(lines) == expected, run.explain()
    assert lines and f"exported {len(lines)} record" in run.stderr
    for line in lines:
        assert json.loads(line) == reference_dict(service, line), line

    # The same bytes come out on stdout.
    assert ok("export", "--service", service, *access(suite, service)).stdout.splitlines() == lines

    suite.stop(service)
    start(suite, service, second)
    imported = ok("import", "--service", service, exported, *access(suite, service))
    assert imported.stdout.count("IMPORTED") == len(lines), imported.explain()
    again = ok("export", "--service", service, *access(suite, service)).stdout.splitlines()
    assert again == lines, "export of the restored store differs from the original"

    # Idempotent: a second import stores nothing new.
    repeat = ok("import", "--service", service, exported, *access(suite, service))
    assert repeat.stdout.count("UNCHANGED") == len(lines), repeat.explain()
    assert ok("export", "--service", service, *access(suite, service)).stdout.splitlines() == lines


def test_import_reports_each_rows_fate_and_names_broken_lines(suite, tmp_path):
    start(suite, "tickets", tmp_path)
    fill_tickets(suite)
    good = ok("export", "--service", "tickets", *access(suite, "tickets")).stdout.splitlines()
    broken_ticket = json.dumps({"ticket": {"id": "tkt_broken"}})
    lines = [good[0], "{not json", json.dumps({"ticket": {"id": "x", "colour": "red"}}), "", broken_ticket, good[1]]
    file = tmp_path / "mixed.jsonl"
    file.write_text("\n".join(lines) + "\n")

    dry = admin("import", "--service", "tickets", file, "--dry-run", *access(suite, "tickets"))
    assert dry.code == 1, dry.explain()
    assert dry.stdout.count("VALID") >= 0 and "dry run" in dry.stdout

    suite.stop("tickets")
    (tmp_path / "fresh").mkdir()
    start(suite, "tickets", tmp_path / "fresh")
    dry = admin("import", "--service", "tickets", file, "--dry-run", *access(suite, "tickets"))
    assert dry.code == 1 and "line 1: VALID" in dry.stdout and "line 6: VALID" in dry.stdout, dry.explain()
    assert ok("export", "--service", "tickets", *access(suite, "tickets")).stdout == "", "a dry run stores nothing"

    run = admin("import", "--service", "tickets", file, *access(suite, "tickets"))
    assert run.code == 1, run.explain()
    out = run.stdout
    assert "line 1: IMPORTED" in out and "line 6: IMPORTED" in out
    assert "line 2: INVALID" in out and "invalid JSON" in out
    assert "line 3: INVALID" in out and "ticket.colour: unknown field" in out
    assert "line 5: INVALID" in out and "ticket.kind" in out
    assert "line 4" not in out  # blank lines are not rows
    assert "2 imported" in out and "3 invalid" in out
    exported = ok("export", "--service", "tickets", *access(suite, "tickets")).stdout.splitlines()
    assert sorted(exported) == sorted([good[0], good[1]])
    later = ok("export", "--service", "tickets", "--since", str(suite.clock.now_ms + 1), *access(suite, "tickets"))
    assert later.stdout == "" and "exported 0 records" in later.stderr
    no_since = admin("export", "--service", "forecast", "--since", "1", "--addr", suite.address("forecast"))
    assert no_since.code == 64 and "no --since" in no_since.stderr


def test_export_needs_credentials_and_a_reachable_service(suite, tmp_path):
    start(suite, "tickets", tmp_path)
    no_token = admin("export", "--service", "tickets", *access(suite, "tickets"), env={"CRM_SERVICE_TOKEN": ""})
    assert no_token.code == 64 and "--service-token" in no_token.stderr
    wrong = admin("export", "--service", "tickets", *access(suite, "tickets"), "--service-token", "wrong")
    assert wrong.code == 2 and "UNAUTHENTICATED" in wrong.stderr
    down = admin("export", "--service", "leads", "--addr", suite.address("leads"))
    assert down.code == 2 and "UNAVAILABLE" in down.stderr
    unknown = admin("export", "--service", "billing")
    assert unknown.code == 64 and "unknown service" in unknown.stderr
