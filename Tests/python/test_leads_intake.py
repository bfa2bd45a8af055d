"""crm-leads intake (PRODUCT.md line 1, R1): every field rule, normalisation, duplicates, idempotency,
visibility, bulk intake with per-row fates (10,000 rows), persistence across a restart."""

from __future__ import annotations

import time

import grpc
import pytest

from leads_support import (
    admin, assert_status, create, get, identity, lead_input, leads_stub, pb, rpc_error, start_leads, TIMEOUT_S,
)

REP_A = identity("rep-a", "rep", "team-a")
REP_B = identity("rep-b", "rep", "team-b")
MANAGER_A = identity("mgr-a", "manager", "team-a")


@pytest.fixture
def leads(suite):
    start_leads(suite)
    return leads_stub(suite)


def test_lead_is_normalised_stored_and_survives_restart(suite, leads):
    lead = lead_input(phone=" +49 (151) 2345-6789 ", email="  Anna.Schmidt@Example.COM ",
                      attributes={"utm_source": "newsletter"})
    created = create(leads, REP_A, lead, request_id="form-1").lead
    assert created.id.startswith("lead_")
    assert created.phone == "+4915123456789"
    assert created.email == "anna.schmidt@example.com"
    assert created.status == pb().LEAD_STATUS_POOL and created.owner_id == ""
    assert created.version == 1 and created.created_by == "rep-a"
    assert dict(created.attributes) == {"utm_source": "newsletter"}

    suite.stop("leads")
    start_leads(suite)
    leads = leads_stub(suite)
    again = get(leads, REP_A, created.id, history=True)
    assert again.lead == created
    assert [a.kind for a in again.assignments] == [pb().ASSIGNMENT_KIND_INTAKE_POOL]
    # The idempotency record survived too: the same request_id creates nothing new.
    replay = create(leads, REP_A, lead, request_id="form-1")
    assert replay.replayed and replay.lead.id == created.id
    listed = leads.ListLeads(pb().ListLeadsRequest(), metadata=admin(), timeout=TIMEOUT_S).leads
    assert [l.id for l in listed] == [created.id]


R1_REQUIRED = ["source", "scenario", "contact_name", "background", "initial_need"]


def test_every_r1_field_is_named(leads):
    # Everything missing at once: one INVALID_ARGUMENT naming each field.
    error = rpc_error(leads.CreateLead, pb().CreateLeadRequest(lead=pb().LeadInput()), metadata=REP_A, timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, *(f"{f}: required" for f in R1_REQUIRED),
                  "phone: required", "email: required")

    # Each required field alone (blank counts as missing).
    for field in R1_REQUIRED:
        lead = lead_input()
        if field == "source":
            lead.source = pb().LEAD_SOURCE_UNSPECIFIED
        else:
            setattr(lead, field, "   ")
        error = rpc_error(create, leads, REP_A, lead)
        assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, f"{field}: required")
        others = [f for f in R1_REQUIRED if f != field]
        assert not any(f"{other}:" in error.details() for other in others), error.details()

    # A contact method: phone or email, each validated.
    error = rpc_error(create, leads, REP_A, lead_input(phone="", email=""))
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "phone: required", "email: required")
    error = rpc_error(create, leads, REP_A, lead_input(phone="call me maybe", email="anna(at)example"))
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "phone: not a phone number", "email: not an email address")
    error = rpc_error(create, leads, REP_A, lead_input(phone="12"))
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "phone: not a phone number")
    assert "email" not in error.details()
    # One valid method is enough.
    assert create(leads, REP_A, lead_input(email="")).lead.email == ""
    assert create(leads, REP_A, lead_input(phone="")).lead.phone == ""

    # Unknown enum numbers, over-long text and a force without its reason are named too.
    error = rpc_error(create, leads, REP_A, lead_input(source=42, contact_name="x" * 201, force=True))
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "source: unknown value 42", "contact_name: at most 200",
                  "force_reason: required")
    # Nothing was stored by any rejected call.
    listed = leads.ListLeads(pb().ListLeadsRequest(), metadata=admin(), timeout=TIMEOUT_S).leads
    assert len(listed) == 2


def test_default_phone_region_normalises_national_numbers(leads):
    current = leads.GetSettings(pb().GetSettingsRequest(), metadata=REP_A, timeout=TIMEOUT_S).settings
    error = rpc_error(leads.UpdateSettings, pb().UpdateSettingsRequest(version=current.version, default_phone_region="XX"),
                      metadata=admin(), timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "default_phone_region")
    error = rpc_error(leads.UpdateSettings, pb().UpdateSettingsRequest(version=current.version, default_phone_region="DE"),
                      metadata=REP_A, timeout=TIMEOUT_S)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    leads.UpdateSettings(pb().UpdateSettingsRequest(version=current.version, default_phone_region="DE"),
                         metadata=admin(), timeout=TIMEOUT_S)
    assert create(leads, REP_A, lead_input(phone="0151 9876 5432")).lead.phone == "+4915198765432"
    assert create(leads, REP_A, lead_input(phone="0044 20 7946 0958")).lead.phone == "+442079460958"
    # A stale version is refused, naming the current one.
    error = rpc_error(leads.UpdateSettings, pb().UpdateSettingsRequest(version=current.version, claim_cap=3),
                      metadata=admin(), timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.ABORTED, f"version {current.version + 1}")


def test_duplicates_of_open_leads_are_refused_naming_the_match(leads):
    first = create(leads, REP_A, lead_input(phone="+49 151 1111 2222", email="ceo@acme.example")).lead
    # Same phone, written differently.
    error = rpc_error(create, leads, REP_B, lead_input(phone="+49-151-11112222"))
    assert_status(error, grpc.StatusCode.ALREADY_EXISTS, first.id, "phone")
    # Same email, other case.
    error = rpc_error(create, leads, REP_B, lead_input(email="CEO@Acme.Example"))
    assert_status(error, grpc.StatusCode.ALREADY_EXISTS, first.id, "email")
    # force with a reason creates it anyway (the reason is recorded).
    forced = create(leads, REP_B, lead_input(email="ceo@acme.example", force=True, force_reason="second division"))
    assert forced.lead.id != first.id
    assert "second division" in forced.assignment.reason
    # A closed lead no longer blocks intake.
    for lead in (first, forced.lead):
        leads.DisqualifyLead(pb().DisqualifyLeadRequest(
            lead_id=lead.id, version=lead.version, reason=pb().DISQUALIFY_REASON_DUPLICATE, note="merged"),
            metadata=MANAGER_A if lead is first else admin(), timeout=TIMEOUT_S)
    assert create(leads, REP_B, lead_input(email="ceo@acme.example")).lead.id


def test_identity_and_visibility(suite, leads):
    error = rpc_error(create, leads, (("x-crm-service-token", "test-service-token"),))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = rpc_error(create, leads, identity("rep-a", "rep", "team-a", token="wrong"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED

    mine = create(leads, REP_A, routing=pb().INTAKE_ROUTING_CALLER).lead
    assert mine.owner_id == "rep-a" and mine.team_id == "team-a" and mine.status == pb().LEAD_STATUS_ASSIGNED
    pooled = create(leads, REP_A).lead
    # Another rep: the owned lead does not exist for them; the pool does.
    assert_status(rpc_error(get, leads, REP_B, mine.id), grpc.StatusCode.NOT_FOUND)
    assert_status(rpc_error(get, leads, REP_B, "lead_does_not_exist"), grpc.StatusCode.NOT_FOUND)
    assert get(leads, REP_B, pooled.id).lead.id == pooled.id
    listed = {l.id for l in leads.ListLeads(pb().ListLeadsRequest(), metadata=REP_B, timeout=TIMEOUT_S).leads}
    assert listed == {pooled.id}
    # The team's manager sees it; another team's manager does not.
    assert get(leads, MANAGER_A, mine.id).lead.id == mine.id
    assert_status(rpc_error(get, leads, identity("mgr-b", "manager", "team-b"), mine.id), grpc.StatusCode.NOT_FOUND)
    # Only managers may route a new lead to someone else.
    error = rpc_error(create, leads, REP_A, routing=pb().INTAKE_ROUTING_OWNER, owner_id="rep-b")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_list_pagination_is_stable_and_filter_bound(leads):
    ids = [create(leads, REP_A, lead_input(source=pb().LEAD_SOURCE_WEBSITE)).lead.id for _ in range(7)]
    create(leads, REP_A, lead_input(source=pb().LEAD_SOURCE_ADVERTISING))
    seen, token = [], ""
    request = pb().ListLeadsRequest(sources=[pb().LEAD_SOURCE_WEBSITE], page_size=3)
    while True:
        request.page_token = token
        page = leads.ListLeads(request, metadata=admin(), timeout=TIMEOUT_S)
        seen += [l.id for l in page.leads]
        create(leads, REP_A, lead_input(source=pb().LEAD_SOURCE_WEBSITE))  # concurrent insert: never shows up mid-walk
        token = page.next_page_token
        if not token:
            break
        other = pb().ListLeadsRequest(sources=[pb().LEAD_SOURCE_ADVERTISING], page_size=3, page_token=token)
        assert_status(rpc_error(leads.ListLeads, other, metadata=admin(), timeout=TIMEOUT_S),
                      grpc.StatusCode.INVALID_ARGUMENT, "page_token")
    assert seen == list(reversed(ids))
    assert_status(rpc_error(leads.ListLeads, pb().ListLeadsRequest(page_token="%%%"), metadata=admin(), timeout=TIMEOUT_S),
                  grpc.StatusCode.INVALID_ARGUMENT, "page_token")


def test_bulk_rows_report_each_fate(leads):
    existing = create(leads, REP_A, lead_input(phone="+49 151 5555 0001")).lead
    replayed = create(leads, REP_A, request_id="row-replay").lead
    rows = [
        pb().LeadIntakeRow(row_number=10, request_id="row-ok", lead=lead_input(email="row.ok@example.com")),
        pb().LeadIntakeRow(row_number=11, request_id="row-bad", lead=lead_input(scenario="", phone="nope", email="")),
        pb().LeadIntakeRow(row_number=12, lead=lead_input(phone="+4915155550001")),
        pb().LeadIntakeRow(row_number=13, lead=lead_input(email="ROW.OK@example.com")),
        pb().LeadIntakeRow(row_number=14, request_id="row-replay", lead=lead_input()),
        pb().LeadIntakeRow(row_number=15, lead=lead_input(), routing=pb().INTAKE_ROUTING_OWNER, owner_id="rep-b"),
    ]
    # Row 14 reuses a key with a different lead: refused, never a silent second lead.
    dry = leads.CreateLeads(pb().CreateLeadsRequest(rows=rows, dry_run=True), metadata=REP_A, timeout=TIMEOUT_S)
    assert [r.status for r in dry.results] == [
        pb().ROW_STATUS_VALID, pb().ROW_STATUS_INVALID, pb().ROW_STATUS_DUPLICATE, pb().ROW_STATUS_DUPLICATE,
        pb().ROW_STATUS_REPLAYED, pb().ROW_STATUS_FAILED]
    assert len(leads.ListLeads(pb().ListLeadsRequest(), metadata=admin(), timeout=TIMEOUT_S).leads) == 2

    response = leads.CreateLeads(pb().CreateLeadsRequest(rows=rows), metadata=REP_A, timeout=TIMEOUT_S)
    results = response.results
    assert [r.row_number for r in results] == [10, 11, 12, 13, 14, 15]
    assert results[0].status == pb().ROW_STATUS_CREATED and results[0].lead_id
    assert results[1].status == pb().ROW_STATUS_INVALID
    assert {e.field for e in results[1].field_errors} == {"scenario", "phone"}
    assert results[2].status == pb().ROW_STATUS_DUPLICATE and results[2].duplicate_of_lead_id == existing.id
    assert results[3].status == pb().ROW_STATUS_DUPLICATE and results[3].duplicate_of_lead_id == results[0].lead_id
    assert results[4].status == pb().ROW_STATUS_FAILED and "request_id" in results[4].message
    assert results[5].status == pb().ROW_STATUS_FAILED and "PERMISSION_DENIED" in results[5].message
    assert response.summary == pb().BulkSummary(rows=6, created=1, invalid=1, duplicate=2, failed=2)
    # Re-sending the file creates nothing twice.
    again = leads.CreateLeads(pb().CreateLeadsRequest(rows=rows[:1]), metadata=REP_A, timeout=TIMEOUT_S).results[0]
    assert again.status == pb().ROW_STATUS_REPLAYED and again.lead_id == results[0].lead_id
    assert replayed.id


def test_bulk_intake_of_10000_leads_in_one_call(leads):
    total, batch = 10_000, 1_000

    def rows(start):
        for i in range(start, start + batch):
            yield pb().LeadIntakeRow(row_number=i + 1, request_id=f"import-{i}", lead=pb().LeadInput(
                source=pb().LEAD_SOURCE_WEBSITE, scenario="web form", contact_name=f"Contact {i}",
                phone=f"+4930{i:08d}", email=f"c{i}@bulk.example", background="downloaded whitepaper",
                initial_need="pricing"))

    def stream():
        for start in range(0, total, batch):
            yield pb().BulkCreateLeadsRequest(rows=list(rows(start)))
        # One bad row and one duplicate of an earlier row at the end still get their own fate.
        yield pb().BulkCreateLeadsRequest(rows=[
            pb().LeadIntakeRow(row_number=total + 1, lead=pb().LeadInput(contact_name="no facts")),
            pb().LeadIntakeRow(row_number=total + 2, lead=pb().LeadInput(
                source=pb().LEAD_SOURCE_WEBSITE, scenario="web form", contact_name="again", phone="+493000000042",
                background="b", initial_need="n")),
        ])

    started = time.monotonic()
    response = leads.BulkCreateLeads(stream(), metadata=REP_A, timeout=120)
    elapsed = time.monotonic() - started
    assert response.summary.rows == total + 2
    assert response.summary.created == total
    assert response.summary.invalid == 1 and response.summary.duplicate == 1
    assert len(response.results) == total + 2
    assert all(r.status == pb().ROW_STATUS_CREATED and r.lead_id for r in response.results[:total])
    assert response.results[-1].duplicate_of_lead_id == response.results[42].lead_id
    assert elapsed < 30, f"bulk intake of {total} leads took {elapsed:.1f} s"
    print(f"bulk intake of {total} leads: {elapsed:.2f} s")
    sample = get(leads, admin(), response.results[9_999].lead_id).lead
    assert sample.email == "c9999@bulk.example" and sample.phone == "+493000009999"
