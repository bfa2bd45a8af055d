"""Case "customers": GetCustomer on a store of 1,000,000 customers (--customers N), measured

* against nghttpd serving the same response bytes (the HTTP/2 floor),
* against a stock Python grpcio server answering the same GetCustomer from the same SQLite file
  (benchmarks/reference_customers.py, the gRPC reference),
* direct to crm-customers, and through crm-gateway (bearer token, identity forwarded) with gateway and
  service sharing the one server core.

Each round asks for another random customer (h2load sends one body per run). Before measuring, a
grpcio client compares the answers of crm-customers, the gateway and the reference for 200 random
customers: all must be OK and identical. Before that the churn sweep is run to completion (RunSweep):
on today's clock the seeded book's first sweep flags some 125,000 silent customers, writes that would
otherwise run in the background on the measured core; the swept store replaces the cached one.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from directory import GatewayDirectory, bearer
from harness import (REPO, SERVICE_TOKEN, Result, Server, framed, free_port, identity_headers, identity_metadata,
                     measure, set_clock, stubs, suite_process, table, verdict)
from seed import START_MS, cached_store, customer_id, keep_in_cache, seed_customers, settle_churn_sweep

PATH = "/crm.customers.v1.CustomerService/GetCustomer"
ADMIN = ("bench-admin", "admin", "hq")


def run(args, work: Path, summary: list[str]) -> None:
    from case_health import nghttpd_floor
    stubs()
    import grpc
    from crm.customers.v1 import customers_pb2 as pb
    rows = args.customers
    clock = work / "clock"
    set_clock(clock, START_MS)
    ports = {name: free_port() for name in ("gateway", "customers")}
    db = cached_store("customers", rows, lambda path, n: seed_customers(path, n, ports, clock), work)
    rng = random.Random(args.seed)
    picks = [rng.randrange(rows) for _ in range(args.rounds)]
    bodies = []
    for i, pick in enumerate(picks):
        bodies.append(work / f"get-customer-{i}.bin")
        bodies[-1].write_bytes(framed(pb.GetCustomerRequest(customer_id=customer_id(pick, rows)).SerializeToString()))

    results: list[Result] = []
    # The measured processes run on the real clock: --clock-file, a test aid, reads a file per call.
    service = suite_process("customers", db, ports)
    gateway = None
    reference_port = free_port()
    reference = Server(["python3", str(REPO / "benchmarks" / "reference_customers.py"), "--listen",
                        f"127.0.0.1:{reference_port}", "--db", str(db), "--service-token", SERVICE_TOKEN,
                        "--stubs", str(stubs())], reference_port, name="python-grpcio-reference")
    flagged = 0
    try:
        flagged, seconds = settle_churn_sweep(service.address)
        if flagged:
            print(f"  churn sweep brought up to date before measuring: {flagged:,} customers flagged in {seconds:.0f} s "
                  f"(kept in the cached store)")
        direct_headers = identity_headers(*ADMIN)
        answer = check_answers(service.address, reference.address, None, rows, rng)
        results.append(nghttpd_floor(PATH, framed(answer), bodies[0], args, work, "customers"))
        results.append(measure("python grpcio reference (same SQLite)", reference, PATH, bodies, args, work,
                               direct_headers, requests=args.reference_requests))
        reference.stop()
        results.append(measure(f"crm-customers direct ({rows:,} rows)", service, PATH, bodies, args, work,
                               direct_headers))
        gateway = suite_process("gateway", work / "gateway.sqlite", ports)
        directory = GatewayDirectory(gateway.address)
        _, token = directory.user("Bench Admin", "admin")
        directory.close()
        check_answers(service.address, None, (gateway.address, token), rows, rng)
        via = measure("crm-gateway -> crm-customers (one core)", gateway, PATH, bodies, args, work,
                      [f"authorization: Bearer {token}"], peak_of=[gateway, service])
        via.note = "peak RSS: gateway + customers"
        results.append(via)
    finally:
        reference.stop()
        service.stop()
        if gateway:
            gateway.stop()
    if flagged:
        keep_in_cache("customers", rows, db)

    floor, python, direct, through = results
    table(f"GetCustomer on {rows:,} customers: {args.requests} requests x {args.rounds} rounds (a random customer "
          f"per round), {args.clients} connections x {args.streams} streams = {args.clients * args.streams} "
          f"concurrent (median round)", results)
    lines = [
        verdict("GetCustomer direct req/s vs nghttpd", direct.round.rps / floor.round.rps, 0.40),
        verdict("GetCustomer direct req/s vs Python grpcio reference", direct.round.rps / python.round.rps, 20),
        verdict(f"GetCustomer direct p99 ms at {args.clients * args.streams} streams", direct.round.p99_ms, 5,
                higher_is_better=False),
        verdict("GetCustomer through the gateway vs direct", through.round.rps / direct.round.rps, 0.40),
    ]
    print("\n".join(lines))
    summary.extend(lines)
    summary.append(f"  loaded RSS: crm-customers {direct.peak_rss_mb:.1f} MB serving {rows:,} rows; gateway + "
                   f"customers {through.peak_rss_mb:.1f} MB")


def check_answers(service: str, reference: str | None, gateway: tuple[str, str] | None, rows: int,
                  rng: random.Random) -> bytes:
    """200 random customers: crm-customers answers OK, and the reference (or the gateway) answers the
    same message. Returns one framed answer (for nghttpd's static copy)."""
    import grpc
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    direct = customers_pb2_grpc.CustomerServiceStub(grpc.insecure_channel(service))
    other, metadata = None, None
    if reference:
        other, metadata = customers_pb2_grpc.CustomerServiceStub(grpc.insecure_channel(reference)), identity_metadata(*ADMIN)
    if gateway:
        other, metadata = customers_pb2_grpc.CustomerServiceStub(grpc.insecure_channel(gateway[0])), bearer(gateway[1])
    sample = b""
    for _ in range(200):
        request = pb.GetCustomerRequest(customer_id=customer_id(rng.randrange(rows), rows))
        mine = direct.GetCustomer(request, metadata=identity_metadata(*ADMIN), timeout=10)
        theirs = other.GetCustomer(request, metadata=metadata, timeout=10)
        if mine != theirs:
            sys.exit(f"answers differ for {request.customer_id}:\n{mine}\n---\n{theirs}")
        sample = mine.SerializeToString()
    return sample
