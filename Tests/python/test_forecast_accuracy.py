"""crm-forecast accuracy of a closed period against a hand-computed fixture (issue 7 "Done when":
an accuracy report for a closed period matching a hand-computed fixture), plus quarterly accuracy
and the schedule's period-close snapshot.

The configured model is set so that only the stage counts (every factor weight 0), which makes each
probability exactly its stage base, so every expected figure below can be computed by hand."""

from __future__ import annotations

import pytest

from suite import DAY_MS, HOUR_MS, START_MS, identity

JAN_1 = START_MS - 4 * DAY_MS - 9 * HOUR_MS  # 2026-01-01T00:00Z


def jan(day, hour=9):
    return JAN_1 + (day - 1) * DAY_MS + hour * HOUR_MS


def test_accuracy_of_a_closed_period_matches_the_hand_computed_fixture(suite):
    from crm.forecast.v1 import forecast_pb2 as fp
    from crm.opportunities.v1 import opportunities_pb2 as opp
    from forecast_events import ADMIN, Producer, configure, flat_weights, start_forecast
    _, stub, sink = start_forecast(suite)
    producer = Producer(sink)
    # Scheduled snapshots off: the snapshots of the period are exactly the ones taken below (the
    # period-close snapshot is still taken).
    configure(stub, snapshot_every_ms=0, configured_weights=flat_weights({
        opp.STAGE_RELATIONSHIP: 0.1, opp.STAGE_NEEDS_CONFIRMED: 0.2, opp.STAGE_SOLUTION_FIT: 0.3,
        opp.STAGE_QUOTE: 0.5, opp.STAGE_NEGOTIATION: 0.6, opp.STAGE_CONTRACT: 0.8}))

    # The fixture (EUR unless noted; expected close in January unless noted):
    #   A u1 QUOTE 0.5 x 100,000  -> won Jan 20, signed 120,000
    #   B u1 NEGOTIATION 0.6 x 200,000 -> lost Jan 22
    #   C u2 CONTRACT 0.8 x 50,000 -> won Jan 28, signed 50,000
    #   D u2 RELATIONSHIP 0.1 x 300,000 -> still open when January ends
    #   E u1 SOLUTION_FIT 0.3 x 80,000, expected Feb 15 (not in January; in Q1)
    #   F u2 QUOTE, USD (other currency: not in the EUR figures)
    #   G u1 won Jan 3, signed 10,000 (already won when the first snapshot is taken)
    producer.created("A", owner="u1", amount=100_000, stage=opp.STAGE_QUOTE, close_ms=jan(20), at_ms=jan(1))
    producer.created("B", owner="u1", amount=200_000, stage=opp.STAGE_NEGOTIATION, close_ms=jan(22), at_ms=jan(1))
    producer.created("C", owner="u2", amount=50_000, stage=opp.STAGE_CONTRACT, close_ms=jan(28), at_ms=jan(1))
    producer.created("D", owner="u2", amount=300_000, stage=opp.STAGE_RELATIONSHIP, close_ms=jan(30), at_ms=jan(1))
    producer.created("E", owner="u1", amount=80_000, stage=opp.STAGE_SOLUTION_FIT, close_ms=jan(46), at_ms=jan(1))
    producer.created("F", owner="u2", amount=40_000, stage=opp.STAGE_QUOTE, close_ms=jan(25), at_ms=jan(1),
                     currency="USD")
    producer.created("G", owner="u1", amount=10_000, stage=opp.STAGE_CONTRACT, close_ms=jan(3), at_ms=jan(1))
    producer.won("G", owner="u1", at_ms=jan(3), signed_amount=10_000)
    producer.flush()

    # Jan 5: the reference snapshot of January, and one of the quarter.
    s1 = stub.TakeSnapshot(fp.TakeSnapshotRequest(request_id="jan-first", period="2026-01"), metadata=ADMIN).snapshot
    q1 = stub.TakeSnapshot(fp.TakeSnapshotRequest(request_id="q1-first", period="2026-Q1"), metadata=ADMIN).snapshot
    assert s1.rows[0].weighted_cents == 250_000  # 10,000 + 50,000 + 120,000 + 40,000 + 30,000

    # The month happens: A won on the 20th; a second snapshot on the 21st; B lost, C won.
    suite.clock.set(jan(20, 10))
    producer.won("A", owner="u1", at_ms=jan(20, 10), signed_amount=120_000, from_stage=opp.STAGE_QUOTE)
    producer.flush()
    suite.clock.set(jan(21))
    s2 = stub.TakeSnapshot(fp.TakeSnapshotRequest(period="2026-01"), metadata=ADMIN).snapshot
    producer.lost("B", owner="u1", at_ms=jan(22), amount=200_000)
    producer.won("C", owner="u2", at_ms=jan(28), signed_amount=50_000)
    producer.flush()

    # February 2: January is closed; the schedule (run on demand by Recompute) takes its closing snapshot.
    suite.clock.set(jan(33))
    stub.Recompute(fp.RecomputeRequest(), metadata=ADMIN)
    report = stub.GetAccuracy(fp.GetAccuracyRequest(period="2026-01"), metadata=ADMIN)

    # Actual: G 10,000 + A 120,000 + C 50,000.
    assert report.period_closed
    assert (report.actual_won_cents, report.actual_won_count) == (180_000, 3)
    assert [s.trigger for s in report.snapshots] == [fp.SNAPSHOT_TRIGGER_ON_DEMAND, fp.SNAPSHOT_TRIGGER_ON_DEMAND,
                                                     fp.SNAPSHOT_TRIGGER_PERIOD_CLOSE]
    first, second, closing = report.snapshots
    # Reference = the first snapshot: forecast 250,000 vs 180,000 actual.
    assert report.reference_snapshot_id == s1.id == first.snapshot_id
    assert (first.forecast_weighted_cents, first.commit_cents, first.best_case_cents) == (250_000, 60_000, 360_000)
    assert first.error_cents == report.error_cents == 70_000
    assert first.abs_pct_error == pytest.approx(70_000 / 180_000)
    assert first.accuracy == report.accuracy == pytest.approx(1 - 70_000 / 180_000)
    # Brier over A, B, C, D: (0.5-1)^2 + (0.6-0)^2 + (0.8-1)^2 + (0.1-0)^2 = 0.66, / 4.
    assert first.brier_score == report.brier_score == pytest.approx(0.165)
    assert first.deal_count == 4
    # Jan 21: G 10,000 + A 120,000 (won) + 0.6 x 200,000 + 0.8 x 50,000 + 0.1 x 300,000 = 320,000.
    assert second.snapshot_id == s2.id
    assert (second.forecast_weighted_cents, second.error_cents) == (320_000, 140_000)
    assert second.accuracy == pytest.approx(1 - 140_000 / 180_000)
    assert second.brier_score == pytest.approx((0.36 + 0.04 + 0.01) / 3)
    # Closing snapshot: the three wins plus D still open at 0.1 x 300,000.
    assert (closing.forecast_weighted_cents, closing.error_cents, closing.deal_count) == (210_000, 30_000, 1)
    assert closing.brier_score == pytest.approx(0.01)

    # Reliability of the reference snapshot's probabilities, ten buckets.
    buckets = {round(b.lower, 1): b for b in report.reliability}
    assert len(report.reliability) == 10
    assert (buckets[0.1].deal_count, buckets[0.1].won_count, buckets[0.1].observed_win_rate) == (1, 0, 0.0)
    assert buckets[0.1].mean_predicted == pytest.approx(0.1)
    assert (buckets[0.5].deal_count, buckets[0.5].observed_win_rate) == (1, 1.0)
    assert (buckets[0.6].deal_count, buckets[0.6].observed_win_rate) == (1, 0.0)
    assert (buckets[0.8].deal_count, buckets[0.8].observed_win_rate) == (1, 1.0)
    assert sum(b.deal_count for b in report.reliability) == 4

    # One person's accuracy: u1 had A, B, G: forecast 180,000 against 130,000 won.
    mine = stub.GetAccuracy(fp.GetAccuracyRequest(period="2026-01"), metadata=identity("u1", "rep", "team-a"))
    assert (mine.actual_won_cents, mine.snapshots[0].forecast_weighted_cents, mine.error_cents) == \
        (130_000, 180_000, 50_000)
    assert mine.brier_score == pytest.approx((0.25 + 0.36) / 2)

    # Quarterly accuracy, a first-class figure: Q1 adds E (0.3 x 80,000) and is still open.
    quarter = stub.GetAccuracy(fp.GetAccuracyRequest(period="2026-Q1", bucket_count=5), metadata=ADMIN)
    assert not quarter.period_closed and quarter.reference_snapshot_id == q1.id
    assert quarter.snapshots[0].forecast_weighted_cents == 274_000
    assert (quarter.actual_won_cents, quarter.error_cents) == (180_000, 94_000)
    assert len(quarter.reliability) == 5
    # Other currencies are never mixed in.
    usd = stub.GetAccuracy(fp.GetAccuracyRequest(period="2026-01", currency="USD"), metadata=ADMIN)
    assert usd.actual_won_cents == 0 and not usd.snapshots

    # The closing snapshot is taken once, even when the schedule runs again.
    stub.Recompute(fp.RecomputeRequest(), metadata=ADMIN)
    listed = stub.ListSnapshots(fp.ListSnapshotsRequest(period="2026-01"), metadata=ADMIN).snapshots
    assert [s.trigger for s in listed].count(fp.SNAPSHOT_TRIGGER_PERIOD_CLOSE) == 1
    assert listed[0].trigger == fp.SNAPSHOT_TRIGGER_PERIOD_CLOSE  # newest first


def test_scheduled_snapshots_follow_the_injected_clock(suite):
    from crm.forecast.v1 import forecast_pb2 as fp
    from crm.opportunities.v1 import opportunities_pb2 as opp
    from forecast_events import ADMIN, Producer, configure, start_forecast
    _, stub, sink = start_forecast(suite)
    configure(stub, snapshot_every_ms=7 * DAY_MS)
    producer = Producer(sink)
    producer.created("s1", owner="u1", amount=100_000, stage=opp.STAGE_QUOTE, close_ms=jan(25), at_ms=jan(1))
    producer.flush()
    stub.Recompute(fp.RecomputeRequest(), metadata=ADMIN)  # the schedule starts now
    assert not stub.ListSnapshots(fp.ListSnapshotsRequest(period="2026-01"), metadata=ADMIN).snapshots
    suite.clock.advance(days=7)
    stub.Recompute(fp.RecomputeRequest(), metadata=ADMIN)
    for period in ("2026-01", "2026-Q1"):
        taken = stub.ListSnapshots(fp.ListSnapshotsRequest(period=period), metadata=ADMIN).snapshots
        assert [(s.trigger, s.taken_at_ms) for s in taken] == [(fp.SNAPSHOT_TRIGGER_SCHEDULED, suite.clock.now_ms)]
    stub.Recompute(fp.RecomputeRequest(), metadata=ADMIN)  # not due again yet
    assert len(stub.ListSnapshots(fp.ListSnapshotsRequest(period="2026-01"), metadata=ADMIN).snapshots) == 1
