"""Case "leads": CreateLead sustained durable writes, beside raw SQLite committing one row per
transaction into the same table on the same core, measured in the same run.

Every CreateLead is one SQLite transaction (validation, duplicate check, the lead, its assignment
record, its outbox events, idempotency) in WAL mode with synchronous=NORMAL, which survives any crash
of the process (the kill -9 test in Tests/python/test_reliability_crash.py proves it); the raw
reference uses the same journal and synchronous settings, and a second reference shows what
synchronous=FULL (an fsync per commit, surviving an OS crash too) costs on this disk.

Every request is a new lead (its own request_id, phone and email): h2load can only repeat one body, so
the load comes from crm-bench-load (benchmarks/load: our Swift client, 128 calls in flight) on the load core.
After the run the store must hold exactly one lead per acknowledged call, each acknowledged id among them.
crm-forecast and crm-customers (the consumers of lead events) run on the load core at nice 19, so the
outbox drains as it would in production without starving the load generator.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from harness import (BIN, LOAD_CORE, REPO, SERVER_CORE, SERVICE_TOKEN, Result, Round, free_port, set_clock, stubs,
                     suite_process, table, verdict)
from seed import START_MS

REP = ("bench-rep", "rep", "team-bench")


def load_round(address: str, requests: int, offset: int, acked: Path) -> Round:
    out = subprocess.run(["taskset", "-c", LOAD_CORE, str(BIN / "crm-bench-load"),
                          "--address", address, "--requests", str(requests), "--offset", str(offset),
                          "--token", SERVICE_TOKEN, "--acked", str(acked)],
                         capture_output=True, text=True, check=True, timeout=1800).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if r["failed"]:
        raise RuntimeError(f"CreateLead failures: {r['failures']}")
    return Round(r["rps"], r["p50_ms"], r["p99_ms"], r["succeeded"], r["failed"])


def raw_sqlite(schema_from: Path, work: Path, rows: int, synchronous: str) -> float:
    """Inserts/s of the C reference into a copy of crm-leads' `leads` table (same columns and indexes)."""
    binary = work / "sqlite_reference"
    if not binary.exists():
        subprocess.run(["cc", "-O2", "-o", str(binary), str(REPO / "benchmarks" / "sqlite_reference.c"), "-lsqlite3"],
                       check=True)
    target = work / f"raw-{synchronous}.sqlite"
    source = sqlite3.connect(schema_from)
    ddl = [sql for (sql,) in source.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'leads' AND sql IS NOT NULL ORDER BY type DESC")]
    source.close()
    db = sqlite3.connect(target)
    for statement in ddl:
        db.execute(statement)
    db.commit()
    db.close()
    out = subprocess.run(["taskset", "-c", SERVER_CORE, str(binary), str(target), str(rows), synchronous],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"= (\d+) inserts/s", out).group(1))


def run(args, work: Path, summary: list[str]) -> None:
    stubs()
    clock = work / "clock"
    set_clock(clock, START_MS)
    db = work / "leads.sqlite"
    ports = {"leads": free_port(), "forecast": free_port(), "customers": free_port()}
    acked = work / "acked.txt"
    # The consumers of crm-leads' events run (on the load core), so its outbox drains as in production
    # instead of retrying against absent peers.
    consumers = [suite_process(name, work / f"{name}.sqlite", ports, core=LOAD_CORE, background=True)
                 for name in ("forecast", "customers")]
    # The real clock: --clock-file, a test aid, reads a file per call.
    service = suite_process("leads", db, ports)
    try:
        warmup = max(args.write_requests // 10, 1000)
        load_round(service.address, warmup, 0, acked)
        rounds = [load_round(service.address, args.write_requests, warmup + i * args.write_requests, acked)
                  for i in range(args.rounds)]
        median = sorted(rounds, key=lambda r: r.rps)[len(rounds) // 2]
        mine = Result("crm-leads CreateLead (WAL, synchronous=NORMAL)", median, service.peak_rss_mb())
    finally:
        service.stop()
        for consumer in consumers:
            consumer.stop()
    ids = set(acked.read_text().split())
    store = sqlite3.connect(db)
    stored = {row[0] for row in store.execute("SELECT id FROM leads")}
    store.close()
    sent = warmup + args.rounds * args.write_requests
    assert len(ids) == sent and stored == ids, f"{sent} CreateLead acknowledged, {len(stored)} leads stored"
    stored = len(stored)

    normal = raw_sqlite(db, work, args.write_requests, "NORMAL")
    full = raw_sqlite(db, work, max(args.write_requests // 10, 2000), "FULL")
    results = [
        Result("raw SQLite, C, 1 txn/insert, NORMAL", Round(normal, float("nan"), float("nan"), 0, 0), float("nan")),
        Result("raw SQLite, C, 1 txn/insert, FULL (fsync)", Round(full, float("nan"), float("nan"), 0, 0), float("nan")),
        mine,
    ]
    table(f"CreateLead durable writes: {args.write_requests} new leads x {args.rounds} rounds, 128 calls in flight "
          f"(crm-bench-load on the load core); raw SQLite pinned to the server core (inserts/s as req/s)", results)
    print(f"  store check: {stored} leads stored = {sent} CreateLead calls acknowledged")
    lines = [verdict("CreateLead req/s vs raw SQLite, same settings (WAL, NORMAL)", mine.round.rps / normal, 1.0),
             verdict("CreateLead req/s vs raw SQLite with an fsync per commit (FULL)", mine.round.rps / full, 1.0)]
    print("\n".join(lines))
    summary.extend(lines)
    summary.append(f"  loaded RSS: crm-leads {mine.peak_rss_mb:.1f} MB after {stored} writes")
