"""crm-leads pool and R2 activation without peers: claim cap, 24 h warning and reclaim driven by the
injected clock (RunSweep, never sleeping), contact recording, due lists, qualification, source report."""

from __future__ import annotations

import grpc
import pytest

from leads_support import (
    DAY_MS, HOUR_MS, START_MS, TIMEOUT_S, admin, assert_status, create, get, identity, lead_input, leads_stub, pb,
    quiet_sweeps, rpc_error, start_leads, sweep,
)

REP_A = identity("rep-a", "rep", "team-a")
REP_B = identity("rep-b", "rep", "team-a")
MANAGER_A = identity("mgr-a", "manager", "team-a")


@pytest.fixture
def leads(suite):
    start_leads(suite)
    stub = leads_stub(suite)
    quiet_sweeps(stub)
    return stub


def claim(stub, who, lead_id, version=0):
    return stub.ClaimLead(pb().ClaimLeadRequest(lead_id=lead_id, version=version), metadata=who, timeout=TIMEOUT_S)


def contact(stub, who, lead_id, request_id="", at_ms=0, channel=None, outcome=None):
    return stub.RecordContact(pb().RecordContactRequest(
        lead_id=lead_id, request_id=request_id, channel=pb().CONTACT_CHANNEL_PHONE_CALL if channel is None else channel,
        outcome=pb().CONTACT_OUTCOME_REACHED if outcome is None else outcome, note="discussed fleet size",
        contacted_at_ms=at_ms), metadata=who, timeout=TIMEOUT_S)


def test_claim_cap_counts_open_unactivated_leads(leads):
    quiet_sweeps(leads, claim_cap=2)
    pool = [create(leads, MANAGER_A).lead for _ in range(4)]
    first = claim(leads, REP_A, pool[0].id)
    assert first.lead.owner_id == "rep-a" and first.lead.status == pb().LEAD_STATUS_ASSIGNED
    assert first.lead.activation_deadline_ms == START_MS + 24 * HOUR_MS
    assert first.assignment.kind == pb().ASSIGNMENT_KIND_CLAIMED and first.assignment.actor_id == "rep-a"
    # Claiming again what one already holds is a no-op, not a second claim.
    assert claim(leads, REP_A, pool[0].id).lead.version == first.lead.version
    claim(leads, REP_A, pool[1].id)
    error = rpc_error(claim, leads, REP_A, pool[2].id)
    assert_status(error, grpc.StatusCode.FAILED_PRECONDITION, "claim_cap", "2")
    # Another rep lost the race for a claimed lead: ABORTED, not a silent steal.
    assert_status(rpc_error(claim, leads, REP_B, pool[0].id), grpc.StatusCode.ABORTED, "claimed")
    # A stale version is refused too.
    assert_status(rpc_error(claim, leads, REP_B, pool[2].id, version=7), grpc.StatusCode.ABORTED, "version 1")
    # Activating one frees a slot under the cap.
    contact(leads, REP_A, pool[0].id)
    assert claim(leads, REP_A, pool[2].id).lead.owner_id == "rep-a"
    assert_status(rpc_error(claim, leads, REP_A, pool[3].id), grpc.StatusCode.FAILED_PRECONDITION, "claim_cap")
    history = get(leads, REP_A, pool[2].id, history=True).assignments
    assert [(a.kind, a.to_owner_id) for a in history] == [
        (pb().ASSIGNMENT_KIND_INTAKE_POOL, ""), (pb().ASSIGNMENT_KIND_CLAIMED, "rep-a")]


def test_24h_warning_then_reclaim_driven_by_the_clock(suite, leads):
    clock = suite.clock
    quiet = create(leads, REP_A, routing=pb().INTAKE_ROUTING_CALLER).lead
    worked = create(leads, REP_A, routing=pb().INTAKE_ROUTING_CALLER).lead
    assert quiet.activation_deadline_ms == START_MS + DAY_MS
    assert quiet.activation_state == pb().ACTIVATION_STATE_ON_TRACK

    clock.advance(hours=10)
    activated = contact(leads, REP_A, worked.id, request_id="call-1")
    assert activated.lead.status == pb().LEAD_STATUS_ACTIVATED
    assert activated.attempt.activated_lead and activated.attempt.within_deadline
    assert activated.lead.activation_state == pb().ACTIVATION_STATE_ACTIVATED

    clock.advance(hours=10, ms=-1)  # 4 h + 1 ms left: not yet a warning
    swept = sweep(leads)
    assert list(swept.warned_lead_ids) == [] and list(swept.reclaimed_lead_ids) == []
    due = leads.ListDue(pb().ListDueRequest(), metadata=REP_A, timeout=TIMEOUT_S).leads
    assert [(d.lead.id, d.state) for d in due] == [(quiet.id, pb().ACTIVATION_STATE_ON_TRACK)]

    clock.advance(ms=1)  # exactly 4 h left: warning (a reminder for the owner)
    swept = sweep(leads)
    assert list(swept.warned_lead_ids) == [quiet.id] and list(swept.reclaimed_lead_ids) == []
    assert list(sweep(leads).warned_lead_ids) == []  # raised once
    due = leads.ListDue(pb().ListDueRequest(), metadata=REP_A, timeout=TIMEOUT_S).leads
    assert [(d.lead.id, d.state, d.remaining_ms) for d in due] == [(quiet.id, pb().ACTIVATION_STATE_WARNING, 4 * HOUR_MS)]
    at_risk = leads.ListLeads(pb().ListLeadsRequest(at_risk_only=True), metadata=REP_A, timeout=TIMEOUT_S).leads
    assert [l.id for l in at_risk] == [quiet.id]

    clock.advance(hours=4, ms=-1)
    assert list(sweep(leads).reclaimed_lead_ids) == []
    clock.advance(ms=1)  # the deadline: reclaimed to the pool by the sweep
    assert list(sweep(leads).reclaimed_lead_ids) == [quiet.id]
    assert list(sweep(leads).reclaimed_lead_ids) == []
    reclaimed = get(leads, REP_B, quiet.id, history=True)  # back in the pool: anyone sees it
    assert reclaimed.lead.status == pb().LEAD_STATUS_POOL and reclaimed.lead.owner_id == ""
    assert reclaimed.lead.reclaim_count == 1
    last = reclaimed.assignments[-1]
    assert last.kind == pb().ASSIGNMENT_KIND_RECLAIMED and last.from_owner_id == "rep-a"
    assert last.actor_id == "system" and "R2" in last.reason
    assert get(leads, REP_A, worked.id).lead.status == pb().LEAD_STATUS_ACTIVATED
    assert leads.ListDue(pb().ListDueRequest(), metadata=REP_A, timeout=TIMEOUT_S).leads == []

    # Thresholds are configuration: a 2 h window with a 30 min warning applies to new assignments.
    quiet_sweeps(leads, activation_window_ms=2 * HOUR_MS, warning_before_ms=HOUR_MS // 2)
    reclaimed_claim = leads.ClaimLead(pb().ClaimLeadRequest(lead_id=quiet.id), metadata=REP_B, timeout=TIMEOUT_S)
    assert reclaimed_claim.lead.activation_deadline_ms == clock.now_ms + 2 * HOUR_MS
    clock.advance(hours=1.5)
    assert list(sweep(leads).warned_lead_ids) == [quiet.id]
    clock.advance(hours=0.5)
    assert list(sweep(leads).reclaimed_lead_ids) == [quiet.id]
    assert get(leads, REP_A, quiet.id).lead.reclaim_count == 2


def test_the_periodic_sweep_reclaims_by_itself(suite, leads):
    lead = create(leads, REP_A, routing=pb().INTAKE_ROUTING_CALLER).lead
    quiet_sweeps(leads)
    settings = leads.GetSettings(pb().GetSettingsRequest(), metadata=admin(), timeout=TIMEOUT_S).settings
    leads.UpdateSettings(pb().UpdateSettingsRequest(version=settings.version, sweep_interval_ms=1000),
                         metadata=admin(), timeout=TIMEOUT_S)
    suite.clock.advance(hours=25)
    from leads_support import eventually

    def reclaimed():
        assert get(leads, REP_A, lead.id).lead.status == pb().LEAD_STATUS_POOL
    eventually(reclaimed, timeout_s=10)


def test_recording_contacts(suite, leads):
    pooled = create(leads, REP_A).lead
    assert_status(rpc_error(contact, leads, REP_A, pooled.id), grpc.StatusCode.FAILED_PRECONDITION, "R2", "claim")
    mine = create(leads, REP_A, routing=pb().INTAKE_ROUTING_CALLER).lead
    # Input rules, all named at once.
    error = rpc_error(leads.RecordContact, pb().RecordContactRequest(lead_id=mine.id, contacted_at_ms=START_MS + HOUR_MS),
                      metadata=REP_A, timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "channel: required", "outcome: required", "contacted_at_ms: in the future")
    assert_status(rpc_error(contact, leads, REP_A, mine.id, at_ms=START_MS - 1), grpc.StatusCode.INVALID_ARGUMENT,
                  "contacted_at_ms: before the lead was assigned")
    # Someone else's lead does not exist for another rep.
    assert_status(rpc_error(contact, leads, REP_B, mine.id), grpc.StatusCode.NOT_FOUND)
    suite.clock.advance(hours=1)
    first = contact(leads, REP_A, mine.id, request_id="attempt-1", outcome=pb().CONTACT_OUTCOME_NO_ANSWER)
    assert first.lead.status == pb().LEAD_STATUS_ACTIVATED and first.lead.contact_attempts == 1
    assert first.lead.activated_at_ms == START_MS + HOUR_MS
    # Idempotent by request_id: the replay records nothing.
    replay = contact(leads, REP_A, mine.id, request_id="attempt-1", outcome=pb().CONTACT_OUTCOME_NO_ANSWER)
    assert replay.replayed and replay.attempt.id == first.attempt.id
    second = contact(leads, MANAGER_A, mine.id, request_id="attempt-2")
    assert not second.attempt.activated_lead and second.lead.contact_attempts == 2
    contacts = get(leads, REP_A, mine.id, history=True).contacts
    assert [(c.actor_id, c.activated_lead) for c in contacts] == [("rep-a", True), ("mgr-a", False)]


def test_assign_and_disqualify_rules_without_the_directory(leads):
    mine = create(leads, REP_A, routing=pb().INTAKE_ROUTING_CALLER).lead
    # A rep may only hand own lead back to the pool.
    error = rpc_error(leads.AssignLead, pb().AssignLeadRequest(lead_id=mine.id, version=mine.version, owner_id="rep-b"),
                      metadata=REP_A, timeout=TIMEOUT_S)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = rpc_error(leads.AssignLead, pb().AssignLeadRequest(lead_id=mine.id, version=mine.version, to_pool=True,
                                                               owner_id="x"), metadata=MANAGER_A, timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "exactly one of owner_id, to_pool, by_rules")
    returned = leads.AssignLead(pb().AssignLeadRequest(lead_id=mine.id, version=mine.version, to_pool=True,
                                                       reason="wrong territory"), metadata=REP_A, timeout=TIMEOUT_S)
    assert returned.lead.status == pb().LEAD_STATUS_POOL and returned.assignment.kind == pb().ASSIGNMENT_KIND_RETURNED_TO_POOL
    assert returned.assignment.reason == "wrong territory" and returned.assignment.from_owner_id == "rep-a"

    lead = returned.lead
    error = rpc_error(leads.DisqualifyLead, pb().DisqualifyLeadRequest(lead_id=lead.id, version=lead.version),
                      metadata=MANAGER_A, timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "reason: required", "note: required")
    error = rpc_error(leads.DisqualifyLead, pb().DisqualifyLeadRequest(
        lead_id=lead.id, version=lead.version, reason=pb().DISQUALIFY_REASON_NO_BUDGET, note="n"),
        metadata=REP_B, timeout=TIMEOUT_S)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # a pool lead is the managers' call
    error = rpc_error(leads.DisqualifyLead, pb().DisqualifyLeadRequest(
        lead_id=lead.id, version=1, reason=pb().DISQUALIFY_REASON_NO_BUDGET, note="n"), metadata=MANAGER_A, timeout=TIMEOUT_S)
    assert_status(error, grpc.StatusCode.ABORTED, f"version {lead.version}")
    done = leads.DisqualifyLead(pb().DisqualifyLeadRequest(
        lead_id=lead.id, version=lead.version, reason=pb().DISQUALIFY_REASON_NO_BUDGET, note="frozen budget until 2027"),
        metadata=MANAGER_A, timeout=TIMEOUT_S).lead
    assert done.status == pb().LEAD_STATUS_DISQUALIFIED and done.disqualify_note == "frozen budget until 2027"
    assert done.closed_at_ms == START_MS
    error = rpc_error(leads.ClaimLead, pb().ClaimLeadRequest(lead_id=lead.id), metadata=REP_B, timeout=TIMEOUT_S)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_source_report_counts_the_funnel(suite, leads):
    web = [create(leads, REP_A, lead_input(source=pb().LEAD_SOURCE_WEBSITE), routing=pb().INTAKE_ROUTING_CALLER).lead
           for _ in range(3)]
    show = create(leads, REP_A, lead_input(source=pb().LEAD_SOURCE_TRADE_SHOW)).lead
    suite.clock.advance(hours=2)
    contact(leads, REP_A, web[0].id)
    suite.clock.advance(hours=30)
    contact(leads, REP_A, web[1].id)  # late: activated, not within 24 h
    leads.DisqualifyLead(pb().DisqualifyLeadRequest(lead_id=show.id, version=show.version,
                                                    reason=pb().DISQUALIFY_REASON_SPAM, note="bot"),
                         metadata=MANAGER_A, timeout=TIMEOUT_S)
    leads.RecordSourceSpend(pb().RecordSourceSpendRequest(
        request_id="spend-1", source=pb().LEAD_SOURCE_WEBSITE, month="2026-01", amount_cents=30_000, currency="EUR"),
        metadata=MANAGER_A, timeout=TIMEOUT_S)
    report = leads.SourceReport(pb().SourceReportRequest(granularity=pb().GRANULARITY_MONTH, currency="EUR"),
                                metadata=admin(), timeout=TIMEOUT_S)
    rows = {r.source: r for r in report.rows}
    website = rows[pb().LEAD_SOURCE_WEBSITE]
    assert website.period == "2026-01"
    assert (website.leads, website.assigned, website.activated, website.activated_within_deadline) == (3, 3, 2, 1)
    assert website.open_leads == 3 and website.spend_cents == 30_000 and website.cost_per_lead_cents == 10_000
    assert website.median_first_contact_ms == (2 * HOUR_MS + 32 * HOUR_MS) // 2
    trade = rows[pb().LEAD_SOURCE_TRADE_SHOW]
    assert trade.disqualified == 1 and list(trade.disqualified_by_reason) == [
        pb().DisqualifyCount(reason=pb().DISQUALIFY_REASON_SPAM, count=1)]
    assert report.total.leads == 4 and report.total.disqualified == 1
    # A rep's report covers own leads only.
    mine = leads.SourceReport(pb().SourceReportRequest(), metadata=REP_B, timeout=TIMEOUT_S)
    assert mine.total.leads == 0
