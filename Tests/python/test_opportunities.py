"""crm-opportunities over gRPC against the real executable: R3 creation, R4 stage gates, R5 follow-ups,
R6 tasks, R8 risk colours under an injected clock, R9 win and R10 loss requirements, visibility.
"""

from __future__ import annotations

import grpc
import pytest

from test_opportunities_support import (
    ADMIN, DAY_MS, HOUR_MS, MANAGER_A, MANAGER_B, REP_A, REP_B, SYSTEM, confirm_key_person, create,
    create_request, fail, follow_up, get, pb, risk_kinds, stub, sweep,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture
def opp(suite):
    suite.start("opportunities")
    return stub(suite)


# --------------------------------------------------------------------------- R3 creation


def test_create_names_every_missing_r3_fact(suite, opp):
    o = pb()
    message = fail(INVALID, opp.CreateOpportunity, o.CreateOpportunityRequest(request_id="empty"), REP_A)
    for field in ("customer_id", "title", "amount_cents", "currency", "key_person_contact_id", "need",
                  "budget_cents", "expected_close_date", "competitors", "next_step", "next_step_due_ms"):
        assert f"{field}:" in message, f"{field} not named in {message!r}"

    message = fail(INVALID, opp.CreateOpportunity,
                   create_request(suite, currency="euro", expected_close_date="2026-02-30", amount_cents=-5,
                                  competitors=["Acme"], no_competitors=True), REP_A)
    assert "currency:" in message and "expected_close_date:" in message and "amount_cents:" in message
    assert "no_competitors:" in message
    # Nothing was half-created.
    listed = opp.ListOpportunities(o.ListOpportunitiesRequest(), metadata=ADMIN, timeout=10)
    assert list(listed.opportunities) == []


def test_create_is_complete_idempotent_and_persisted(suite, opp):
    o = pb()
    request = create_request(suite, no_competitors=True, competitors=[], lead_id="lead-42",
                             source=3, source_detail="Hannover fair")
    first = opp.CreateOpportunity(request, metadata=REP_A, timeout=10)
    created = first.opportunity
    assert not first.replayed
    assert created.stage == o.STAGE_RELATIONSHIP and created.status == o.OPPORTUNITY_STATUS_OPEN
    assert created.owner_id == "rep-a" and created.team_id == "team-a" and created.version == 1
    # Line 3: a next action from the start, as an R6 task for the owner.
    assert created.next_step == request.next_step and created.next_step_task_id == first.next_task.id
    assert first.next_task.owner_id == "rep-a" and first.next_task.origin == o.TASK_ORIGIN_OPPORTUNITY_CREATED

    again = opp.CreateOpportunity(request, metadata=REP_A, timeout=10)
    assert again.replayed and again.opportunity.id == created.id
    # Conversion from a lead is idempotent by lead id even under a new request id.
    by_lead = opp.CreateOpportunity(create_request(suite, lead_id="lead-42"), metadata=REP_A, timeout=10)
    assert by_lead.replayed and by_lead.opportunity.id == created.id
    # Reusing a request id for a different request is refused.
    changed = create_request(suite, request_id=request.request_id, title="Something else")
    assert "request_id" in fail(PRECONDITION, opp.CreateOpportunity, changed, REP_A)

    suite.stop("opportunities")
    suite.start("opportunities")
    stored = get(opp, created.id, include_stage_history=True, include_open_tasks=True)
    assert stored.opportunity == created
    assert [t.id for t in stored.open_tasks] == [first.next_task.id]
    assert [(c.from_stage, c.to_stage) for c in stored.stage_history] == [(o.STAGE_UNSPECIFIED, o.STAGE_RELATIONSHIP)]
    listed = opp.ListOpportunities(o.ListOpportunitiesRequest(), metadata=ADMIN, timeout=10)
    assert [x.id for x in listed.opportunities] == [created.id]


def test_visibility_and_permissions(suite, opp):
    o = pb()
    mine = create(suite, opp, REP_A)
    # Another rep, or a manager of another team: NOT_FOUND exactly like a missing id.
    assert fail(NOT_FOUND, opp.GetOpportunity, o.GetOpportunityRequest(opportunity_id=mine.id), REP_B) \
        .replace(mine.id, "X") == fail(NOT_FOUND, opp.GetOpportunity, o.GetOpportunityRequest(opportunity_id="opp_missing"), REP_B).replace("opp_missing", "X")
    fail(NOT_FOUND, opp.GetOpportunity, o.GetOpportunityRequest(opportunity_id=mine.id), MANAGER_B)
    fail(NOT_FOUND, opp.AdvanceStage, o.AdvanceStageRequest(opportunity_id=mine.id, version=1,
                                                            to_stage=o.STAGE_SOLUTION_FIT), REP_B)
    assert get(opp, mine.id, MANAGER_A).opportunity.id == mine.id
    assert get(opp, mine.id, ADMIN).opportunity.id == mine.id
    assert [x.id for x in opp.ListOpportunities(o.ListOpportunitiesRequest(), metadata=REP_B, timeout=10).opportunities] == []
    # A rep cannot create for someone else; a manager can, inside the team.
    fail(grpc.StatusCode.PERMISSION_DENIED, opp.CreateOpportunity, create_request(suite, owner_id="rep-b"), REP_A)
    theirs = create(suite, opp, MANAGER_A, owner_id="rep-b")
    assert theirs.owner_id == "rep-b" and theirs.team_id == "team-a"
    assert get(opp, theirs.id, REP_B).opportunity.id == theirs.id
    # Settings are admin-only; identity and the service token are required.
    fail(grpc.StatusCode.PERMISSION_DENIED, opp.UpdateSettings, o.UpdateSettingsRequest(min_conclusion_length=5), REP_A)
    fail(grpc.StatusCode.UNAUTHENTICATED, opp.CreateOpportunity, create_request(suite), SYSTEM)
    fail(grpc.StatusCode.UNAUTHENTICATED, opp.GetOpportunity, o.GetOpportunityRequest(opportunity_id=mine.id),
         (("x-crm-service-token", "wrong"), ("x-crm-user", "rep-a"), ("x-crm-role", "rep")))


# --------------------------------------------------------------------------- R4 stage gates


def _advance(opp, o_id, version, stage, who=REP_A, **kw):
    return opp.AdvanceStage(pb().AdvanceStageRequest(opportunity_id=o_id, version=version, to_stage=stage, **kw),
                            metadata=who, timeout=10)


def test_each_stage_gate(suite, opp):
    o = pb()
    deal = create(suite, opp)
    facts = o.StageFacts

    msg = fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_NEEDS_CONFIRMED), REP_A)
    assert msg.startswith("R4:") and "needs_summary" in msg
    step = _advance(opp, deal.id, deal.version, o.STAGE_NEEDS_CONFIRMED,
                    facts=facts(needs_summary="Two lines, 40 boxes per minute, start in April"))
    deal = step.opportunity
    assert deal.stage == o.STAGE_NEEDS_CONFIRMED and step.change.from_stage == o.STAGE_RELATIONSHIP
    assert step.change.actor_id == "rep-a" and step.change.at_ms == suite.clock.now_ms

    deal = _advance(opp, deal.id, deal.version, o.STAGE_SOLUTION_FIT).opportunity  # no gate

    msg = fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_QUOTE,
        facts=facts(quote_amount_cents=4_800_000)), REP_A)
    assert msg.startswith("R4:") and "quote_date" in msg and "quote_amount_cents" not in msg
    deal = _advance(opp, deal.id, deal.version, o.STAGE_QUOTE,
                    facts=facts(quote_amount_cents=4_800_000, quote_date="2026-01-06")).opportunity
    assert deal.quoted and deal.quote_amount_cents == 4_800_000

    msg = fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_NEGOTIATION), REP_A)
    assert msg.startswith("R4:") and "negotiation_points" in msg
    deal = _advance(opp, deal.id, deal.version, o.STAGE_NEGOTIATION,
                    facts=facts(negotiation_points=o.StringList(values=["payment terms", "SLA"]))).opportunity

    msg = fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_CONTRACT), REP_A)
    assert msg.startswith("R4:") and "contract_document_ref" in msg
    deal = _advance(opp, deal.id, deal.version, o.STAGE_CONTRACT,
                    facts=facts(contract_document_ref="DMS-2026-0042")).opportunity
    assert deal.stage == o.STAGE_CONTRACT

    # Moving back needs a reason; every move is in the history with from, to, who and when.
    msg = fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_QUOTE), REP_A)
    assert msg.startswith("R4:") and "reason" in msg
    back = _advance(opp, deal.id, deal.version, o.STAGE_QUOTE, reason="Customer reopened the price")
    assert back.change.backwards and back.opportunity.stage == o.STAGE_QUOTE
    history = get(opp, deal.id, include_stage_history=True).stage_history
    assert [(c.from_stage, c.to_stage) for c in history] == [
        (o.STAGE_UNSPECIFIED, o.STAGE_RELATIONSHIP), (o.STAGE_RELATIONSHIP, o.STAGE_NEEDS_CONFIRMED),
        (o.STAGE_NEEDS_CONFIRMED, o.STAGE_SOLUTION_FIT), (o.STAGE_SOLUTION_FIT, o.STAGE_QUOTE),
        (o.STAGE_QUOTE, o.STAGE_NEGOTIATION), (o.STAGE_NEGOTIATION, o.STAGE_CONTRACT), (o.STAGE_CONTRACT, o.STAGE_QUOTE)]
    assert history[-1].reason == "Customer reopened the price"


def test_skipping_stages_needs_every_skipped_stage_facts(suite, opp):
    o = pb()
    deal = create(suite, opp)
    msg = fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_NEGOTIATION,
        facts=o.StageFacts(quote_amount_cents=100, quote_date="2026-01-05")), REP_A)
    assert msg.startswith("R4:") and "needs_summary" in msg and "negotiation_points" in msg
    assert "quote_date" not in msg  # supplied facts count
    # Nothing of the refused move was stored.
    assert get(opp, deal.id).opportunity.quote_amount_cents == 0

    step = _advance(opp, deal.id, deal.version, o.STAGE_NEGOTIATION, facts=o.StageFacts(
        needs_summary="Replace manual packing", quote_amount_cents=100, quote_date="2026-01-05",
        negotiation_points=o.StringList(values=["volume discount"])))
    assert step.opportunity.stage == o.STAGE_NEGOTIATION
    assert list(step.change.skipped_stages) == [o.STAGE_NEEDS_CONFIRMED, o.STAGE_SOLUTION_FIT, o.STAGE_QUOTE]

    # Optimistic concurrency: a stale version is ABORTED naming the current one.
    msg = fail(grpc.StatusCode.ABORTED, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=deal.version, to_stage=o.STAGE_CONTRACT,
        facts=o.StageFacts(contract_document_ref="x")), REP_A)
    assert f"version {step.opportunity.version}" in msg
    # WON / LOST only through MarkWon / MarkLost; starting beyond RELATIONSHIP needs the facts too.
    assert "to_stage" in fail(INVALID, opp.AdvanceStage, o.AdvanceStageRequest(
        opportunity_id=deal.id, version=step.opportunity.version, to_stage=o.STAGE_WON), REP_A)
    assert "R4:" in fail(PRECONDITION, opp.CreateOpportunity, create_request(suite, initial_stage=o.STAGE_QUOTE), REP_A)


# --------------------------------------------------------------------------- R5 follow-ups, R6 tasks


JUNK = ["", "   ", "ok", "OK!", "talked, pending", "Talked -- pending", "following up", "Following up...",
        "ok, following up, pending", "too short"]


def test_junk_follow_ups_are_refused_and_the_list_is_configuration(suite, opp):
    o = pb()
    deal = create(suite, opp)
    for conclusion in JUNK:
        msg = fail(PRECONDITION, opp.RecordFollowUp, o.RecordFollowUpRequest(
            opportunity_id=deal.id, type=o.ACTIVITY_TYPE_CALL, conclusion=conclusion, next_step="Send the proposal",
            next_step_due_ms=suite.clock.now_ms + DAY_MS), REP_A)
        assert msg.startswith("R5:") and "conclusion" in msg, (conclusion, msg)
    msg = fail(PRECONDITION, opp.RecordFollowUp, o.RecordFollowUpRequest(
        opportunity_id=deal.id, type=o.ACTIVITY_TYPE_CALL, conclusion="Budget approved by the board"), REP_A)
    assert msg.startswith("R5:") and "next_step:" in msg and "next_step_due_ms:" in msg
    assert "type" in fail(INVALID, opp.RecordFollowUp, o.RecordFollowUpRequest(
        opportunity_id=deal.id, conclusion="Budget approved by the board", next_step="Send the proposal",
        next_step_due_ms=suite.clock.now_ms + DAY_MS), REP_A)
    # None of the refusals left anything behind.
    assert list(opp.ListFollowUps(o.ListFollowUpsRequest(opportunity_id=deal.id), metadata=REP_A, timeout=10).follow_ups) == []

    settings = opp.GetSettings(o.GetSettingsRequest(), metadata=ADMIN, timeout=10).settings
    updated = opp.UpdateSettings(o.UpdateSettingsRequest(
        version=settings.version, junk_conclusions=o.StringList(values=["Customer will think about it"])),
        metadata=ADMIN, timeout=10).settings
    assert updated.version == settings.version + 1
    assert "R5:" in fail(PRECONDITION, opp.RecordFollowUp, o.RecordFollowUpRequest(
        opportunity_id=deal.id, type=o.ACTIVITY_TYPE_CALL, conclusion="customer will think about it!",
        next_step="Call again", next_step_due_ms=suite.clock.now_ms + DAY_MS), REP_A)
    accepted = follow_up(suite, opp, deal.id, conclusion="Following up.")  # no longer on the list
    assert accepted.follow_up.conclusion == "Following up."


def test_follow_up_makes_the_next_step_a_task_and_is_idempotent(suite, opp):
    o = pb()
    deal = confirm_key_person(opp, create(suite, opp))
    first_task = deal.next_step_task_id
    due = suite.clock.now_ms + 3 * DAY_MS
    request = dict(request_id="fu-once", type=o.ACTIVITY_TYPE_VISIT, contact_ids=["contact-cfo", "contact-it"],
                   next_step="Demo on site", next_step_due_ms=due)
    response = follow_up(suite, opp, deal.id, **request)
    assert not response.replayed
    fu, task, updated = response.follow_up, response.next_task, response.opportunity
    assert fu.key_person_met and fu.face_to_face and fu.next_task_id == task.id
    assert task.title == "Demo on site" and task.due_ms == due and task.origin == o.TASK_ORIGIN_FOLLOW_UP
    assert task.owner_id == "rep-a" and task.follow_up_id == fu.id
    assert updated.next_step_task_id == task.id and updated.follow_up_count == 1
    assert updated.key_person_met and updated.face_to_face_held and updated.last_follow_up_at_ms == suite.clock.now_ms

    replay = follow_up(suite, opp, deal.id, **request)
    assert replay.replayed and replay.follow_up.id == fu.id
    history = opp.ListFollowUps(o.ListFollowUpsRequest(opportunity_id=deal.id), metadata=REP_A, timeout=10)
    assert [f.id for f in history.follow_ups] == [fu.id]
    # The superseded next step was completed; only the new one is open.
    open_tasks = get(opp, deal.id, include_open_tasks=True).open_tasks
    assert [t.id for t in open_tasks] == [task.id] and first_task != task.id

    # Follow-ups against a customer with no opportunity.
    loose = follow_up(suite, opp, "", customer_id="cust-9", type=o.ACTIVITY_TYPE_MESSAGE)
    assert loose.follow_up.customer_id == "cust-9" and not loose.HasField("opportunity")
    by_customer = opp.ListFollowUps(o.ListFollowUpsRequest(customer_id="cust-9"), metadata=REP_A, timeout=10)
    assert [f.id for f in by_customer.follow_ups] == [loose.follow_up.id]


def test_tasks_due_overdue_complete_and_reschedule(suite, opp):
    o = pb()
    deal = create(suite, opp, next_step_due_ms=suite.clock.now_ms + 2 * HOUR_MS)
    extra = opp.CreateTask(o.CreateTaskRequest(request_id="t1", title="Prepare reference list",
                                               due_ms=suite.clock.now_ms + 5 * DAY_MS, opportunity_id=deal.id),
                           metadata=REP_A, timeout=10).task
    due = opp.ListDue(o.ListDueRequest(), metadata=REP_A, timeout=10).tasks
    assert [d.task.id for d in due] == [deal.next_step_task_id]  # today's only

    suite.clock.advance(days=6)
    due = opp.ListDue(o.ListDueRequest(), metadata=REP_A, timeout=10).tasks
    assert [d.task.id for d in due] == [deal.next_step_task_id, extra.id]  # overdue, oldest first
    assert all(d.overdue for d in due) and due[0].opportunity_title == deal.title
    assert due[0].overdue_by_ms == 6 * DAY_MS - 2 * HOUR_MS
    assert list(opp.ListDue(o.ListDueRequest(), metadata=REP_B, timeout=10).tasks) == []
    fail(grpc.StatusCode.PERMISSION_DENIED, opp.ListDue, o.ListDueRequest(owner_id="rep-a"), REP_B)
    assert len(opp.ListDue(o.ListDueRequest(team_id="team-a"), metadata=MANAGER_A, timeout=10).tasks) == 2

    # Completing the next step of an open deal while another open task exists promotes that one.
    current = get(opp, deal.id, include_open_tasks=True)
    next_task = [t for t in current.open_tasks if t.id == deal.next_step_task_id][0]
    done = opp.CompleteTask(o.CompleteTaskRequest(task_id=next_task.id, version=next_task.version, note="Called"),
                            metadata=REP_A, timeout=10)
    assert done.task.status == o.TASK_STATUS_DONE
    assert get(opp, deal.id).opportunity.next_step_task_id == extra.id
    # The last open task cannot be completed without naming the new next step (line 3).
    msg = fail(PRECONDITION, opp.CompleteTask, o.CompleteTaskRequest(task_id=extra.id, version=extra.version), REP_A)
    assert "next_step" in msg
    moved = opp.RescheduleTask(o.RescheduleTaskRequest(task_id=extra.id, version=extra.version,
                                                       due_ms=suite.clock.now_ms + DAY_MS, reason="Customer on holiday"),
                               metadata=REP_A, timeout=10).task
    assert moved.reschedule_count == 1 and moved.last_reschedule_reason == "Customer on holiday"
    assert get(opp, deal.id).opportunity.next_step_due_ms == moved.due_ms
    finished = opp.CompleteTask(o.CompleteTaskRequest(task_id=extra.id, version=moved.version, next_step="Sign",
                                                      next_step_due_ms=suite.clock.now_ms + 2 * DAY_MS),
                                metadata=REP_A, timeout=10)
    assert finished.next_task.origin == o.TASK_ORIGIN_TASK_COMPLETED
    assert get(opp, deal.id).opportunity.next_step == "Sign"


# --------------------------------------------------------------------------- R8 risk


def _at_risk(opp, who=REP_A, **kw):
    return {x.id: x for x in opp.ListAtRisk(pb().ListAtRiskRequest(**kw), metadata=who, timeout=10).opportunities}


def test_no_follow_up_turns_yellow_then_red_and_clears(suite, opp):
    o = pb()
    deal = confirm_key_person(opp, create(suite, opp))
    assert deal.risk.level == o.RISK_LEVEL_GREEN

    suite.clock.advance(days=2, hours=23)
    assert sweep(opp).raised_opportunity_ids == []
    assert _at_risk(opp) == {}

    suite.clock.advance(hours=1)  # 3 days without a follow-up
    assert list(sweep(opp).raised_opportunity_ids) == [deal.id]
    flagged = _at_risk(opp)[deal.id]
    assert flagged.risk.level == o.RISK_LEVEL_YELLOW
    [reason] = flagged.risk.reasons
    assert (reason.kind, reason.level, reason.observed_days, reason.threshold_days) == \
        (o.RISK_KIND_NO_FOLLOW_UP, o.RISK_LEVEL_YELLOW, 3, 3)
    assert "R8" in reason.message

    suite.clock.advance(days=4)  # 7 days
    sweep(opp)
    flagged = _at_risk(opp)[deal.id]
    assert flagged.risk.level == o.RISK_LEVEL_RED
    assert risk_kinds(flagged) == {(o.RISK_KIND_NO_FOLLOW_UP, o.RISK_LEVEL_RED)}
    assert deal.id in _at_risk(opp, MANAGER_A) and _at_risk(opp, REP_B) == {}

    # A follow-up is a write: the flag clears at once, no sweep needed.
    cleared = follow_up(suite, opp, deal.id).opportunity
    assert cleared.risk.level == o.RISK_LEVEL_GREEN and list(cleared.risk.reasons) == []
    assert _at_risk(opp) == {}
    # The flag's history stays (R12): raised yellow, raised red, cleared.
    records = list(opp.ExportForForecast(o.ExportForForecastRequest(include_risk_history=True), metadata=SYSTEM, timeout=10))
    [record] = [r for batch in records for r in batch.records]
    assert [(h.level, h.cleared_at_ms != 0) for h in record.risk_history] == [
        (o.RISK_LEVEL_YELLOW, True), (o.RISK_LEVEL_RED, True)]


def test_key_person_missing_or_unconfirmed_is_red(suite, opp):
    o = pb()
    deal = create(suite, opp)
    suite.clock.advance(days=1)
    sweep(opp)
    assert get(opp, deal.id).opportunity.risk.level == o.RISK_LEVEL_GREEN  # inside the grace period

    suite.clock.advance(days=2)  # unconfirmed after 3 days (configuration)
    sweep(opp)
    flagged = get(opp, deal.id).opportunity
    assert (o.RISK_KIND_KEY_PERSON_UNCONFIRMED, o.RISK_LEVEL_RED) in risk_kinds(flagged)
    deal = follow_up(suite, opp, deal.id, type=o.ACTIVITY_TYPE_MEETING, in_person=True,
                     contact_ids=["contact-cfo"]).opportunity  # meeting the key person confirms them
    assert deal.key_person_confirmed and deal.risk.level == o.RISK_LEVEL_GREEN

    left = opp.UpdateOpportunity(o.UpdateOpportunityRequest(opportunity_id=deal.id, version=deal.version,
                                                            key_person_left=True), metadata=REP_A, timeout=10).opportunity
    assert left.key_person_contact_id == ""
    assert risk_kinds(left) == {(o.RISK_KIND_KEY_PERSON_MISSING, o.RISK_LEVEL_RED)}
    assert deal.id in _at_risk(opp, min_level=o.RISK_LEVEL_RED)
    replaced = opp.UpdateOpportunity(o.UpdateOpportunityRequest(opportunity_id=deal.id, version=left.version,
                                                                key_person_contact_id="contact-ceo",
                                                                key_person_confirmed=True),
                                     metadata=REP_A, timeout=10).opportunity
    assert replaced.risk.level == o.RISK_LEVEL_GREEN
    # R3 facts are never cleared.
    assert "key_person_contact_id" in fail(INVALID, opp.UpdateOpportunity, o.UpdateOpportunityRequest(
        opportunity_id=deal.id, version=replaced.version, key_person_contact_id=""), REP_A)


def test_quote_without_action_is_red_and_snooze_hides_it_until_it_expires(suite, opp):
    o = pb()
    deal = confirm_key_person(opp, create(suite, opp))
    deal = _advance(opp, deal.id, deal.version, o.STAGE_QUOTE, facts=o.StageFacts(
        needs_summary="Replace manual packing", quote_amount_cents=4_900_000, quote_date="2026-01-05")).opportunity
    deal = follow_up(suite, opp, deal.id, conclusion="Walked the buyer through the quote").opportunity
    suite.clock.advance(days=4)
    sweep(opp)
    assert get(opp, deal.id).opportunity.risk.level == o.RISK_LEVEL_YELLOW  # silence only

    suite.clock.advance(days=1)  # quote given, 5 days without action
    sweep(opp)
    flagged = get(opp, deal.id).opportunity
    assert (o.RISK_KIND_QUOTE_NO_ACTION, o.RISK_LEVEL_RED) in risk_kinds(flagged)
    assert flagged.risk.level == o.RISK_LEVEL_RED

    resume = suite.clock.now_ms + 2 * DAY_MS
    assert "reason" in fail(INVALID, opp.SnoozeRisk, o.SnoozeRiskRequest(
        opportunity_id=deal.id, version=flagged.version, resume_at_ms=resume), REP_A)
    snoozed = opp.SnoozeRisk(o.SnoozeRiskRequest(opportunity_id=deal.id, version=flagged.version,
                                                 reason="Buyer on parental leave", resume_at_ms=resume),
                             metadata=REP_A, timeout=10).opportunity
    assert snoozed.risk.snooze.reason == "Buyer on parental leave" and snoozed.risk.level == o.RISK_LEVEL_RED
    assert deal.id not in _at_risk(opp)
    assert _at_risk(opp, include_snoozed=True)[deal.id].risk.snooze.resume_at_ms == resume

    suite.clock.advance(days=2)  # the snooze expires by itself
    sweep(opp)
    back = _at_risk(opp)[deal.id]
    assert not back.risk.HasField("snooze")

    cleared = follow_up(suite, opp, deal.id).opportunity
    assert cleared.risk.level == o.RISK_LEVEL_GREEN


def test_thresholds_are_configuration(suite, opp):
    o = pb()
    fail(grpc.StatusCode.ABORTED, opp.UpdateSettings, o.UpdateSettingsRequest(version=7, no_follow_up_yellow_days=1), ADMIN)
    assert "no_follow_up_yellow_days" in fail(INVALID, opp.UpdateSettings, o.UpdateSettingsRequest(
        version=0, no_follow_up_yellow_days=9), ADMIN)
    opp.UpdateSettings(o.UpdateSettingsRequest(version=0, no_follow_up_yellow_days=1, no_follow_up_red_days=2),
                       metadata=ADMIN, timeout=10)
    deal = confirm_key_person(opp, create(suite, opp))
    suite.clock.advance(days=1)
    sweep(opp)
    assert get(opp, deal.id).opportunity.risk.level == o.RISK_LEVEL_YELLOW
    suite.clock.advance(days=1)
    sweep(opp)
    assert get(opp, deal.id).opportunity.risk.level == o.RISK_LEVEL_RED


# --------------------------------------------------------------------------- R7 focus


def test_focus_lists_big_deals_closing_this_month_and_at_risk(suite, opp):
    o = pb()
    big = confirm_key_person(opp, create(suite, opp, amount_cents=25_000_000, expected_close_date="2026-06-30"))
    closing = confirm_key_person(opp, create(suite, opp, amount_cents=100_000, expected_close_date="2026-01-20"))
    quiet = confirm_key_person(opp, create(suite, opp, amount_cents=200_000, expected_close_date="2026-05-01"))
    create(suite, opp, REP_B, amount_cents=90_000_000)  # someone else's
    focus = opp.ListFocus(o.ListFocusRequest(), metadata=REP_A, timeout=10).opportunities
    assert [(f.opportunity.id, list(f.reasons)) for f in focus] == [
        (big.id, [o.FOCUS_REASON_BIG_DEAL]), (closing.id, [o.FOCUS_REASON_CLOSING_THIS_MONTH])]
    suite.clock.advance(days=3)
    sweep(opp)
    focus = {f.opportunity.id: list(f.reasons) for f in opp.ListFocus(o.ListFocusRequest(), metadata=REP_A, timeout=10).opportunities}
    assert focus[quiet.id] == [o.FOCUS_REASON_AT_RISK]
    assert focus[closing.id] == [o.FOCUS_REASON_CLOSING_THIS_MONTH, o.FOCUS_REASON_AT_RISK]


# --------------------------------------------------------------------------- R9 win, R10 loss


def test_win_needs_signed_amount_date_and_every_gate_fact(suite, opp):
    o = pb()
    deal = create(suite, opp)
    msg = fail(INVALID, opp.MarkWon, o.MarkWonRequest(opportunity_id=deal.id, version=deal.version), REP_A)
    assert "signed_amount_cents" in msg and "signed_date" in msg
    msg = fail(PRECONDITION, opp.MarkWon, o.MarkWonRequest(
        opportunity_id=deal.id, version=deal.version, signed_amount_cents=4_700_000, signed_date="2026-01-05",
        facts=o.StageFacts(needs_summary="Packing automation")), REP_A)
    assert msg.startswith("R4:")
    for field in ("quote_amount_cents", "quote_date", "negotiation_points", "contract_document_ref"):
        assert field in msg
    won = opp.MarkWon(o.MarkWonRequest(
        opportunity_id=deal.id, version=deal.version, signed_amount_cents=4_700_000, signed_date="2026-01-05",
        facts=o.StageFacts(needs_summary="Packing automation", quote_amount_cents=4_900_000, quote_date="2026-01-02",
                           negotiation_points=o.StringList(values=["payment in 3 instalments"]),
                           contract_document_ref="DMS-7")), metadata=REP_A, timeout=10)
    closed = won.opportunity
    assert closed.status == o.OPPORTUNITY_STATUS_WON and closed.stage == o.STAGE_WON
    assert closed.signed_amount_cents == 4_700_000 and closed.signed_date == "2026-01-05"
    assert won.change.to_stage == o.STAGE_WON and closed.next_step == ""
    assert list(opp.ListDue(o.ListDueRequest(until_ms=suite.clock.now_ms + 30 * DAY_MS), metadata=REP_A,
                            timeout=10).tasks) == []
    # A closed deal does not move any more.
    fail(PRECONDITION, opp.AdvanceStage, o.AdvanceStageRequest(opportunity_id=deal.id, version=closed.version,
                                                               to_stage=o.STAGE_NEGOTIATION, reason="x"), REP_A)
    fail(PRECONDITION, opp.MarkLost, o.MarkLostRequest(opportunity_id=deal.id, version=closed.version, review=o.LossReview(
        lost_to=o.LOST_TO_NO_DECISION, reason=o.LOSS_REASON_TIMING, went_wrong_stage=o.STAGE_RELATIONSHIP,
        follow_up_strategy="Call in a year")), REP_A)


def test_loss_needs_the_full_review(suite, opp):
    o = pb()
    deal = create(suite, opp)
    deal = _advance(opp, deal.id, deal.version, o.STAGE_NEEDS_CONFIRMED,
                    facts=o.StageFacts(needs_summary="Packing automation")).opportunity
    msg = fail(PRECONDITION, opp.MarkLost, o.MarkLostRequest(opportunity_id=deal.id, version=deal.version), REP_A)
    assert msg.startswith("R10:")
    for field in ("lost_to", "reason", "went_wrong_stage", "follow_up_strategy"):
        assert f"review.{field}" in msg
    msg = fail(PRECONDITION, opp.MarkLost, o.MarkLostRequest(opportunity_id=deal.id, version=deal.version, review=o.LossReview(
        lost_to=o.LOST_TO_COMPETITOR, reason=o.LOSS_REASON_PRICE, went_wrong_stage=o.STAGE_NEGOTIATION,
        follow_up_strategy="Stay close to the plant manager")), REP_A)
    assert msg.startswith("R10:") and "review.competitor" in msg and "review.went_wrong_stage" in msg
    review = o.LossReview(lost_to=o.LOST_TO_COMPETITOR, competitor="Acme Automation", reason=o.LOSS_REASON_PRICE,
                          reason_detail="12% cheaper", went_wrong_stage=o.STAGE_NEEDS_CONFIRMED,
                          follow_up_strategy="Stay close to the plant manager", revisit_date="2026-09-01")
    lost = opp.MarkLost(o.MarkLostRequest(opportunity_id=deal.id, version=deal.version, review=review),
                        metadata=REP_A, timeout=10).opportunity
    assert lost.status == o.OPPORTUNITY_STATUS_LOST and lost.loss == review
    listed = opp.ListOpportunities(o.ListOpportunitiesRequest(statuses=[o.OPPORTUNITY_STATUS_LOST]), metadata=REP_A, timeout=10)
    assert [x.id for x in listed.opportunities] == [deal.id]


# --------------------------------------------------------------------------- lists and robustness


def test_list_filters_and_pages(suite, opp):
    o = pb()
    ids = [create(suite, opp, amount_cents=(i + 1) * 100_000, title=f"Deal {i}",
                  expected_close_date=f"2026-0{i % 3 + 1}-15").id for i in range(7)]
    seen, token = [], ""
    while True:
        page = opp.ListOpportunities(o.ListOpportunitiesRequest(sort=o.OPPORTUNITY_SORT_AMOUNT, descending=True,
                                                                page_size=3, page_token=token), metadata=REP_A, timeout=10)
        seen += [x.id for x in page.opportunities]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    window = opp.ListOpportunities(o.ListOpportunitiesRequest(close_date_from="2026-02-01", close_date_to="2026-02-28"),
                                   metadata=REP_A, timeout=10)
    assert {x.id for x in window.opportunities} == {ids[1], ids[4]}
    found = opp.ListOpportunities(o.ListOpportunitiesRequest(query="deal 3"), metadata=REP_A, timeout=10)
    assert [x.id for x in found.opportunities] == [ids[3]]
    assert "page_token" in fail(INVALID, opp.ListOpportunities, o.ListOpportunitiesRequest(page_token="%%%"), REP_A)
    assert "close_date_from" in fail(INVALID, opp.ListOpportunities, o.ListOpportunitiesRequest(close_date_from="soon"), REP_A)


def test_hostile_input_never_crashes_or_answers_internal(suite, opp):
    o = pb()
    deal = create(suite, opp)
    huge = 2**63 - 1
    calls = [
        (opp.CreateOpportunity, create_request(suite, amount_cents=huge, budget_cents=huge, next_step_due_ms=huge,
                                               title="x" * 10_000, initial_stage=99)),
        (opp.AdvanceStage, o.AdvanceStageRequest(opportunity_id=deal.id, version=-1, to_stage=42)),
        (opp.RecordFollowUp, o.RecordFollowUpRequest(opportunity_id=deal.id, type=77, occurred_at_ms=-huge,
                                                     next_step_due_ms=-huge, conclusion="\x00" * 50)),
        (opp.RecordFollowUp, o.RecordFollowUpRequest(opportunity_id=deal.id, type=1, occurred_at_ms=1,
                                                     next_step="Call", next_step_due_ms=huge,
                                                     conclusion="A perfectly fine conclusion")),
        (opp.SnoozeRisk, o.SnoozeRiskRequest(opportunity_id=deal.id, version=1, reason="r", resume_at_ms=huge)),
        (opp.ListFocus, o.ListFocusRequest(month="2026-13", page_size=-1)),
        (opp.ListDue, o.ListDueRequest(until_ms=huge, page_token="bm90LWEtdG9rZW4=")),
        (opp.ListAtRisk, o.ListAtRiskRequest(min_level=9)),
        (opp.MarkLost, o.MarkLostRequest(opportunity_id=deal.id, version=1, review=o.LossReview(
            lost_to=5, reason=50, went_wrong_stage=-3, revisit_date="yesterday"))),
        (opp.CompleteTask, o.CompleteTaskRequest(task_id="'; DROP TABLE tasks; --", version=1)),
    ]
    for call, request in calls:
        try:
            call(request, metadata=REP_A, timeout=10)
        except grpc.RpcError as error:
            assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error.details()
    suite.processes["opportunities"].assert_alive()
    assert get(opp, deal.id).opportunity.id == deal.id
