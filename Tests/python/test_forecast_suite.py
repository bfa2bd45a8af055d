"""crm-forecast with the real crm-opportunities: the opportunities' outbox delivers OPPORTUNITY_CREATED,
FOLLOW_UP_RECORDED, STAGE_CHANGED, RISK_CHANGED and DEAL_WON to crm-forecast's EventSink, and the
ExportForForecast feed brings what no event announces (an edited amount, the confirmed key person,
task counts). Nothing here is faked: both executables, their own stores, the shared test clock."""

from __future__ import annotations

import time

import pytest

from suite import DAY_MS, START_MS, identity

REP = identity("rep-a", "rep", "team-a")


def eventually(check, timeout=15.0, what="condition"):
    """Polls `check` until it returns a truthy value (event delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_forecast_follows_the_real_crm_opportunities(suite):
    from crm.forecast.v1 import forecast_pb2 as fp
    from crm.opportunities.v1 import opportunities_pb2 as o
    from crm.opportunities.v1 import opportunities_pb2_grpc
    from forecast_events import ADMIN, start_forecast
    suite.start("opportunities")
    opp = opportunities_pb2_grpc.OpportunityServiceStub(suite.channel("opportunities"))
    _, forecast, _ = start_forecast(suite)

    def create(title, amount, close):
        return opp.CreateOpportunity(o.CreateOpportunityRequest(
            request_id=f"create-{title}", customer_id=f"cust-{title}", title=title, amount_cents=amount,
            currency="EUR", key_person_contact_id="contact-cfo", need="Automate the end-of-line packing",
            budget_cents=amount, expected_close_date=close, competitors=["Acme Automation"],
            next_step="Call the CFO about the budget", next_step_due_ms=START_MS + DAY_MS), metadata=REP,
            timeout=10).opportunity

    def probability(opportunity_id):
        answer = forecast.GetProbability(fp.GetProbabilityRequest(opportunity_ids=[opportunity_id]), metadata=REP)
        return answer.results[0] if answer.results else None

    deal = create("Line-retrofit", 5_000_000, "2026-01-25")
    other = create("Spare-parts", 1_000_000, "2026-01-28")
    first = eventually(lambda: probability(deal.id), what="OPPORTUNITY_CREATED to reach crm-forecast")
    assert first.stage == o.STAGE_RELATIONSHIP and first.facts.days_to_expected_close == 20

    # A face-to-face visit (R5 follow-up) reaches the forecast as an event and raises the probability.
    opp.RecordFollowUp(o.RecordFollowUpRequest(
        request_id="visit-1", opportunity_id=deal.id, type=o.ACTIVITY_TYPE_VISIT,
        conclusion="Walked the line with the plant manager; budget confirmed for Q1",
        next_step="Send the layout proposal", next_step_due_ms=START_MS + 2 * DAY_MS), metadata=REP, timeout=10)
    visited = eventually(lambda: (lambda r: r if r.facts.face_to_face_held else None)(probability(deal.id)),
                         what="FOLLOW_UP_RECORDED")
    assert visited.probability > first.probability and visited.facts.follow_ups_last_30_days == 1

    # A stage move (R4 gate passed) is an event too.
    current = opp.GetOpportunity(o.GetOpportunityRequest(opportunity_id=deal.id), metadata=REP).opportunity
    opp.AdvanceStage(o.AdvanceStageRequest(
        opportunity_id=deal.id, version=current.version, to_stage=o.STAGE_QUOTE,
        facts=o.StageFacts(needs_summary="Packing automation", quote_amount_cents=4_900_000,
                           quote_date="2026-01-05")), metadata=REP, timeout=10)
    quoted = eventually(lambda: (lambda r: r if r.stage == o.STAGE_QUOTE else None)(probability(deal.id)),
                        what="STAGE_CHANGED")
    assert quoted.facts.quote_given and quoted.probability > visited.probability

    # An amount edit announces no event: the export feed (Recompute's refresh) brings it.
    current = opp.GetOpportunity(o.GetOpportunityRequest(opportunity_id=deal.id), metadata=REP).opportunity
    opp.UpdateOpportunity(o.UpdateOpportunityRequest(opportunity_id=deal.id, version=current.version,
                                                     amount_cents=6_000_000), metadata=REP, timeout=10)
    forecast.Recompute(fp.RecomputeRequest(full_resync=True), metadata=ADMIN)
    deals = {d.opportunity_id: d for d in forecast.GetForecast(
        fp.GetForecastRequest(period="2026-01", include_deals=True), metadata=ADMIN).forecast.deals}
    assert deals[deal.id].amount_cents == 6_000_000 and deals[deal.id].title == "Line-retrofit"
    assert deals[deal.id].owner_id == "rep-a"

    # A win (R9) reaches the forecast: won counts in full and in completion.
    current = opp.GetOpportunity(o.GetOpportunityRequest(opportunity_id=other.id), metadata=REP).opportunity
    opp.MarkWon(o.MarkWonRequest(
        opportunity_id=other.id, version=current.version, signed_amount_cents=900_000, signed_date="2026-01-05",
        facts=o.StageFacts(needs_summary="Spares", quote_amount_cents=950_000, quote_date="2026-01-02",
                           negotiation_points=o.StringList(values=["payment in 3 instalments"]),
                           contract_document_ref="DMS-7")), metadata=REP, timeout=10)

    def won_row():
        rows = forecast.GetForecast(fp.GetForecastRequest(period="2026-01"), metadata=ADMIN).forecast.rows
        return rows[0] if rows[0].won_cents else None

    row = eventually(won_row, what="DEAL_WON")
    assert row.won_cents == 900_000 and row.open_deal_count == 1
    completion = forecast.GetCompletion(fp.GetCompletionRequest(period="2026-01"), metadata=REP).rows[0]
    assert (completion.scope, completion.scope_id, completion.won_cents) == (fp.SCOPE_USER, "rep-a", 900_000)
    review = forecast.GetReview(fp.GetReviewRequest(period="2026-01"), metadata=ADMIN).review
    assert {(a.opportunity_id, a.to_stage) for a in review.advanced} >= {(deal.id, o.STAGE_QUOTE),
                                                                         (other.id, o.STAGE_WON)}


def test_source_roi_and_unfollowed_leads_from_the_real_crm_leads(suite):
    from crm.forecast.v1 import forecast_pb2 as fp
    from crm.leads.v1 import leads_pb2 as ld
    from crm.leads.v1 import leads_pb2_grpc
    from forecast_events import ADMIN, Producer, start_forecast
    suite.start("leads")
    leads = leads_pb2_grpc.LeadServiceStub(suite.channel("leads"))
    _, forecast, sink = start_forecast(suite)
    settings = leads.GetSettings(ld.GetSettingsRequest(), metadata=ADMIN, timeout=10).settings
    leads.UpdateSettings(ld.UpdateSettingsRequest(version=settings.version, sweep_interval_ms=DAY_MS),
                         metadata=ADMIN, timeout=10)

    def intake(n):
        return leads.CreateLead(ld.CreateLeadRequest(request_id=f"lead-{n}", routing=ld.INTAKE_ROUTING_CALLER, lead=ld.LeadInput(
            source=ld.LEAD_SOURCE_WEBSITE, source_detail="spring campaign", scenario="filled the demo form",
            contact_name=f"Anna Schmidt {n}", phone=f"+49 151 5550 10{n}", email=f"anna{n}@example.com",
            company=f"Schmidt Logistik {n}", background="Runs 40 trucks", initial_need="fleet scheduling")),
            metadata=REP, timeout=10).lead

    contacted, ignored, also_ignored = intake(1), intake(2), intake(3)
    leads.RecordContact(ld.RecordContactRequest(lead_id=contacted.id, channel=ld.CONTACT_CHANNEL_PHONE_CALL,
                                                outcome=ld.CONTACT_OUTCOME_REACHED, note="discussed fleet size"),
                        metadata=REP, timeout=10)
    leads.RecordSourceSpend(ld.RecordSourceSpendRequest(
        request_id="spend-1", source=ld.LEAD_SOURCE_WEBSITE, month="2026-01", amount_cents=30_000, currency="EUR"),
        metadata=identity("manager-a", "manager", "team-a"), timeout=10)

    # R2: 25 hours later the sweep reclaims the two leads nobody contacted.
    suite.clock.advance(hours=25)
    leads.RunSweep(ld.RunSweepRequest(), metadata=ADMIN, timeout=10)

    def unfollowed():
        review = forecast.GetReview(fp.GetReviewRequest(period="2026-01", team_id="team-a"), metadata=ADMIN).review
        return review if len(review.unfollowed_leads) == 2 else None

    review = eventually(unfollowed, what="crm-leads' lead events to reach crm-forecast")
    assert {u.lead_id for u in review.unfollowed_leads} == {ignored.id, also_ignored.id}
    assert all(u.owner_id == "rep-a" and u.source == ld.LEAD_SOURCE_WEBSITE for u in review.unfollowed_leads)
    assert not review.warnings

    # Source ROI: lead funnel and spend from crm-leads, money from the opportunity facts.
    producer = Producer(sink)
    producer.created("roi-1", owner="rep-a", amount=120_000, close_ms=START_MS, at_ms=START_MS)
    producer.won("roi-1", owner="rep-a", at_ms=START_MS + DAY_MS, signed_amount=120_000)
    producer.flush()
    roi = forecast.GetSourceRoi(fp.GetSourceRoiRequest(period="2026-01"), metadata=ADMIN)
    assert not roi.warnings
    website = {r.source: r for r in roi.rows}[ld.LEAD_SOURCE_WEBSITE]
    assert (website.leads, website.activated_within_deadline, website.spend_cents) == (3, 1, 30_000)
    assert (website.won_count, website.won_amount_cents, website.cost_per_lead_cents) == (1, 120_000, 10_000)
    assert website.roi == pytest.approx((120_000 - 30_000) / 30_000)
