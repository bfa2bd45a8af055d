"""Case "forecast": recompute over 100,000 open opportunities (--deals N). The deals reach crm-forecast as
OPPORTUNITY_CREATED events on its EventSink (the way crm-opportunities delivers them); then Recompute
(re-score every open deal: the R11 probability model) runs once to warm up and --rounds times, and
GetForecast for the quarter once per round. Figures: the service's own timing (Recompute's
duration_ms, GetForecast's x-crm-compute-us trailer) and the client's wall time, median of the rounds,
with the process's RSS."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from harness import free_port, identity_metadata, set_clock, stubs, suite_process
from seed import START_MS, cached_store, seed_forecast

ADMIN = identity_metadata("bench-admin", "admin", "hq")


def run(args, work: Path, summary: list[str]) -> None:
    stubs()
    import grpc
    from crm.forecast.v1 import forecast_pb2 as pb, forecast_pb2_grpc
    clock = work / "clock"
    set_clock(clock, START_MS)
    ports = {"forecast": free_port()}
    db = cached_store("forecast", args.deals, lambda path, n: seed_forecast(path, n, ports, clock), work)
    service = suite_process("forecast", db, ports, clock=clock)
    try:
        idle = service.rss_mb()
        stub = forecast_pb2_grpc.ForecastServiceStub(grpc.insecure_channel(service.address))
        recompute, forecast = [], []
        for i in range(args.rounds + 1):
            started = time.monotonic()
            result = stub.Recompute(pb.RecomputeRequest(), metadata=ADMIN, timeout=300)
            wall = (time.monotonic() - started) * 1000
            assert result.opportunities_scored == args.deals, result
            started = time.monotonic()
            response, call = stub.GetForecast.with_call(pb.GetForecastRequest(period="2026-Q1"), metadata=ADMIN,
                                                        timeout=300)
            forecast_wall = (time.monotonic() - started) * 1000
            compute_ms = int(dict(call.trailing_metadata()).get("x-crm-compute-us", "0")) / 1000
            assert response.forecast.rows and response.forecast.rows[0].open_deal_count == args.deals, response.forecast.rows[:1]
            if i:  # the first round warms up
                recompute.append((result.duration_ms, wall))
                forecast.append((compute_ms, forecast_wall))
        peak = service.peak_rss_mb()
    finally:
        service.stop()
    med = lambda xs, k: statistics.median(x[k] for x in xs)
    print(f"\nforecast over {args.deals:,} open opportunities (median of {args.rounds} rounds after a warm-up)")
    print(f"  Recompute (score every open deal): {med(recompute, 0):.0f} ms service time, {med(recompute, 1):.0f} ms wall")
    print(f"  GetForecast 2026-Q1:               {med(forecast, 0):.0f} ms service time, {med(forecast, 1):.0f} ms wall")
    print(f"  crm-forecast RSS: {idle:.1f} MB after start with {args.deals:,} deals loaded, peak {peak:.1f} MB")
    line = (f"  forecast recompute over {args.deals:,} open opportunities: {med(recompute, 0):.0f} ms service, "
            f"{med(recompute, 1):.0f} ms wall (issue 7 target < 1000 ms); GetForecast {med(forecast, 0):.0f} ms")
    summary.append(line)
    summary.append(f"  loaded RSS: crm-forecast {peak:.1f} MB with {args.deals:,} deals")
