"""Benchmark (issue 7 "Done when"): the forecast for 100,000 open opportunities recomputes in under
a second of service time. The opportunities arrive as real OPPORTUNITY_CREATED events on the
service's EventSink; Recompute reports the scoring time of every open opportunity, and GetForecast
reports its own computation time in the `x-crm-compute-us` trailer. Stage-only weights make the
expected weighted total computable here, so the figure is checked as well as timed."""

from __future__ import annotations

import time

import pytest

from suite import DAY_MS, START_MS

DEALS = 100_000
STAGE_BASES = [0.1, 0.2, 0.3, 0.5, 0.6, 0.8]


def test_forecast_of_100000_open_opportunities_recomputes_in_under_a_second(suite):
    from crm.forecast.v1 import forecast_pb2 as fp
    from forecast_events import ADMIN, OPEN_STAGES, Producer, configure, flat_weights, start_forecast
    _, stub, sink = start_forecast(suite)
    configure(stub, refit_every_ms=0, snapshot_every_ms=0,
              configured_weights=flat_weights(dict(zip(OPEN_STAGES, STAGE_BASES))))
    producer = Producer(sink)
    expected = 0.0
    for i in range(DEALS):
        amount = 100_000 + (i % 997) * 1_000
        stage = i % 6
        # Expected to close within Q1 2026 (the clock is 2026-01-05).
        producer.created(f"b{i:06d}", owner=f"u{i % 50}", team=f"team-{i % 5}", amount=amount,
                         stage=OPEN_STAGES[stage], close_ms=START_MS + (i % 80) * DAY_MS, at_ms=START_MS - DAY_MS)
        expected += STAGE_BASES[stage] * amount
    loaded = time.monotonic()
    producer.flush()
    print(f"\n{DEALS} opportunities delivered as events in {time.monotonic() - loaded:.1f} s")

    timings = []
    for _ in range(3):
        result = stub.Recompute(fp.RecomputeRequest(), metadata=ADMIN)
        assert result.opportunities_scored == DEALS
        timings.append(result.duration_ms)
    print(f"Recompute of {DEALS} open opportunities: {timings} ms of service time")
    assert min(timings) < 1000 and sorted(timings)[1] < 1000

    started = time.monotonic()
    response, call = stub.GetForecast.with_call(
        fp.GetForecastRequest(period="2026-Q1", group_by=fp.FORECAST_GROUP_BY_USER), metadata=ADMIN, timeout=30)
    wall = time.monotonic() - started
    compute_us = int(dict(call.trailing_metadata())["x-crm-compute-us"])
    print(f"GetForecast 2026-Q1 over {DEALS} deals: {compute_us / 1000:.0f} ms service time, {wall * 1000:.0f} ms wall")
    assert compute_us < 1_000_000
    company = response.forecast.rows[0]
    assert company.open_deal_count == DEALS
    assert abs(company.weighted_cents - expected) <= 1
    assert len(response.forecast.rows) == 1 + 50
    assert sum(r.weighted_cents for r in response.forecast.rows[1:]) == \
        pytest.approx(company.weighted_cents, abs=50)

