#!/usr/bin/env python3
"""Load generator for the CreateLead case (pinned to the load core by the caller): h2load repeats one
request body, but every lead here must be a new one (its own request_id, phone and email, so the
duplicate check sees a realistic book and idempotency never replays), so this drives the service with
grpc.aio and `--concurrency` calls in flight. Prints one JSON line: requests/s, p50/p99 in ms,
succeeded, failed, and the ids of the leads acknowledged (written to --acked)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--offset", type=int, default=0, help="first lead number (keeps rounds distinct)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--acked", required=True, help="file to append acknowledged lead ids to")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    print(json.dumps(asyncio.run(drive(args))))


async def drive(args) -> dict:
    import grpc
    from crm.leads.v1 import leads_pb2 as pb, leads_pb2_grpc
    metadata = (("x-crm-service-token", args.token), ("x-crm-user", "bench-rep"), ("x-crm-role", "rep"),
                ("x-crm-team", "team-bench"))
    requests = []
    for n in range(args.offset, args.offset + args.requests):
        requests.append(pb.CreateLeadRequest(request_id=f"bench-{n}", routing=pb.INTAKE_ROUTING_CALLER, lead=pb.LeadInput(
            source=1 + n % 8, source_detail="Hannover Messe 2026", scenario="asked for a demo at booth 12",
            contact_name=f"Anna Schmidt {n}", phone=f"+49 151 {n // 10000 % 10000:04d} {n % 10000:04d}",
            email=f"anna.schmidt{n}@example.com", job_title="Head of Operations", company=f"Schmidt {n} GmbH",
            region=f"DE-{n % 16}", industry="Logistics", background="Runs 40 trucks, spreadsheets today",
            initial_need="fleet scheduling for 40 trucks")))
    latencies: list[float] = []
    acked: list[str] = []
    failures: dict[str, int] = {}
    async with grpc.aio.insecure_channel(args.address) as channel:
        stub = leads_pb2_grpc.LeadServiceStub(channel)
        queue = iter(requests)

        async def worker() -> None:
            for request in queue:
                started = time.perf_counter()
                try:
                    response = await stub.CreateLead(request, metadata=metadata, timeout=60)
                    latencies.append(time.perf_counter() - started)
                    acked.append(response.lead.id)
                except grpc.aio.AioRpcError as error:
                    failures[error.code().name] = failures.get(error.code().name, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    with open(args.acked, "a") as out:
        out.write("\n".join(acked) + "\n")
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    return {"rps": len(latencies) / elapsed, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "succeeded": len(latencies),
            "failed": sum(failures.values()), "failures": failures}


if __name__ == "__main__":
    main()
