"""Gateway overhead (issue 8 "Done when"): the same call to a real service, direct (service token
and identity metadata, as the gateway forwards it) and through crm-gateway (bearer token), measured
with a stock grpcio client on this machine. Prints the latencies; set CRM_BENCH_OUT=path to also
write them as JSON. The assertion is loose (debug builds, a shared 2-core box) but catches a gateway
that, say, reconnects or writes to its store on every call."""

from __future__ import annotations

import json
import os
import statistics
import time
from concurrent import futures

from gateway_fakes import ADMIN_TOKEN, Directory, raw
from suite import identity

WARMUP = 50
ROUNDS = 400
CONCURRENCY = 8
CONCURRENT_SECONDS = 2.0
PATH = "/crm.tickets.v1.TicketService/GetSettings"


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def throughput(call, metadata):
    stop = time.monotonic() + CONCURRENT_SECONDS
    def worker():
        n = 0
        while time.monotonic() < stop:
            call(b"", metadata=metadata, timeout=10)
            n += 1
        return n
    with futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        total = sum(pool.map(lambda _: worker(), range(CONCURRENCY)))
    return total / CONCURRENT_SECONDS


def test_gateway_overhead_against_direct_calls(suite):
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    suite.start("tickets")
    person = Directory(suite.channel("gateway")).person("Bench", "rep")
    via_gateway = raw(suite.channel("gateway"), PATH)
    direct = raw(suite.channel("tickets"), PATH)
    gateway_md = person.md()
    direct_md = identity(person.id, "rep", "")

    for _ in range(WARMUP):
        assert via_gateway(b"", metadata=gateway_md, timeout=10) == direct(b"", metadata=direct_md, timeout=10)
    samples = {"direct": [], "gateway": []}
    for _ in range(ROUNDS):  # interleaved, so drift on the box hits both alike
        for name, call, md in (("direct", direct, direct_md), ("gateway", via_gateway, gateway_md)):
            started = time.perf_counter()
            call(b"", metadata=md, timeout=10)
            samples[name].append((time.perf_counter() - started) * 1e6)

    result = {name: {"p50_us": round(percentile(s, 50)), "p90_us": round(percentile(s, 90)),
                     "p99_us": round(percentile(s, 99)), "mean_us": round(statistics.fmean(s))}
              for name, s in samples.items()}
    result["overhead_p50_us"] = result["gateway"]["p50_us"] - result["direct"]["p50_us"]
    result["throughput_rps"] = {"direct": round(throughput(direct, direct_md)),
                                "gateway": round(throughput(via_gateway, gateway_md))}
    result["call"] = PATH
    print("\ngateway overhead (stock grpcio client, sequential unary calls, µs):")
    for name in ("direct", "gateway"):
        print(f"  {name:8s} p50 {result[name]['p50_us']:6d}  p90 {result[name]['p90_us']:6d}  "
              f"p99 {result[name]['p99_us']:6d}  mean {result[name]['mean_us']:6d}  "
              f"{CONCURRENCY}-way {result['throughput_rps'][name]} calls/s")
    print(f"  overhead p50 {result['overhead_p50_us']} µs")
    if os.environ.get("CRM_BENCH_OUT"):
        with open(os.environ["CRM_BENCH_OUT"], "w") as out:
            json.dump(result, out, indent=2)
    assert result["overhead_p50_us"] < 10_000, result
