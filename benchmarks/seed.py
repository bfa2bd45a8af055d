"""Seeding the benchmark stores through the services' own public RPCs: ImportCustomers (client streaming,
as an operator's restore would) for customer stores of up to 100,000 rows, EventSink/Deliver for the
forecast's 100,000 open opportunities (the events crm-opportunities itself sends), ordinary gateway
calls for the MyDay organisation (case_myday.py). The one exception, documented at
seed_customers_bulk: the million-customer store is bulk-loaded into the schema crm-customers created,
because ImportCustomers would take most of an hour. Seeded stores are cached under $CRM_BENCH_CACHE
(default /tmp/crm-bench-cache), keyed by the row count and a hash of the service's Schema.swift, so
later runs copy them instead of seeding again.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
import time
from pathlib import Path

from harness import REPO, SERVICE_TOKEN, identity_metadata

CACHE = Path(os.environ.get("CRM_BENCH_CACHE", "/tmp/crm-bench-cache"))
START_MS = 1_767_603_600_000          # 2026-01-05T09:00:00Z, the clock every benchmark store uses
DAY_MS = 86_400_000
ADMIN = identity_metadata("bench-admin", "admin", "hq")
REPS = 2000                           # customer owners rep0..rep1999, 20 per team -> team-0..team-99


def schema_key(service: str) -> str:
    """Changes whenever the service's schema (its Schema.swift) changes, so a stale cache is never used."""
    text = (REPO / "services" / service / "Service" / "Schema.swift").read_bytes()
    return hashlib.sha256(text).hexdigest()[:12]


def cached_store(service: str, rows: int, seed, work: Path) -> Path:
    """A private copy of the seeded store of `service` with `rows` records, seeding it first if needed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"{service}-{rows}-{schema_key(service)}.sqlite"
    if not cached.exists():
        fresh = work / f"{service}-seeding.sqlite"
        started = time.monotonic()
        seed(fresh, rows)
        print(f"  seeded {rows} {service} records through the public RPCs in {time.monotonic() - started:.0f} s")
        import sqlite3
        db = sqlite3.connect(fresh)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        shutil.move(fresh, cached)
    copy = work / f"{service}.sqlite"
    shutil.copyfile(cached, copy)
    return copy


def keep_in_cache(service: str, rows: int, copy: Path) -> None:
    """Replaces the cached store with `copy` (after its process stopped), e.g. once its background
    sweeps have caught up, so later runs start from that state."""
    import sqlite3
    db = sqlite3.connect(copy)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    cached = CACHE / f"{service}-{rows}-{schema_key(service)}.sqlite"
    staged = cached.with_suffix(".staged")
    shutil.copyfile(copy, staged)
    staged.replace(cached)


def settle_churn_sweep(address: str) -> tuple[int, float]:
    """Runs crm-customers' churn sweep to completion (RunSweep), as in a store that has been serving for
    a while: on the seeded book the first sweep on today's clock flags every silent EXISTING customer,
    some 125,000 rows, and left to the background loop those writes would share the measured core with
    the reads. Returns (customers flagged, seconds)."""
    import grpc
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 256 << 20)])
    started = time.monotonic()
    swept = customers_pb2_grpc.CustomerServiceStub(channel).RunSweep(pb.RunSweepRequest(), metadata=ADMIN,
                                                                      timeout=1800)
    channel.close()
    return len(swept.flagged_customer_ids), time.monotonic() - started


IMPORT_LIMIT = 100_000   # above this, seed_customers bulk-loads (see seed_customers_bulk for why)


def customer_id(i: int, rows: int) -> str:
    """The id of the i-th seeded customer (0-based), in whichever way the store was seeded."""
    if rows > IMPORT_LIMIT:
        created = START_MS - (rows - (i + 1)) * 30_000
        return f"cus_{created:012x}{i + 1:010d}"
    return f"cus_bench{i:08d}"


def customer_owner(i: int) -> tuple[str, str]:
    rep = i % REPS
    return f"rep{rep}", f"team-{rep // 20}"


def seed_customers(db: Path, rows: int, ports: dict, clock: Path) -> None:
    if rows > IMPORT_LIMIT:
        seed_customers_bulk(db, rows, ports, clock)
    else:
        seed_customers_import(db, rows, ports, clock)


def seed_customers_bulk(db: Path, rows: int, ports: dict, clock: Path) -> None:
    """The million-customer store, written into the schema crm-customers created itself, with the
    same bulk loader its own scale test uses (Tests/python/test_customers_scale.py), then checked
    through GetCustomer. Why not ImportCustomers: it commits one transaction per record (the row, 18
    indexes and the FTS5 trigram index: about 40 WAL pages), measured here at 260-440 records/s, i.e.
    40-60 minutes for a million; the bulk load takes about a minute. The benchmark itself only reads."""
    from harness import suite_process
    sys.path.insert(0, str(REPO / "Tests" / "python"))
    from test_customers_scale import _seed
    server = suite_process("customers", db, {"customers": ports["customers"]}, clock=clock)  # creates the schema
    server.stop()
    _seed(db, rows)


def seed_customers_import(db: Path, rows: int, ports: dict, clock: Path) -> None:
    """`rows` customers through crm-customers' ImportCustomers (admin, client streaming);
    statuses, grades, sizes, tags and collaborators vary like a real book."""
    import grpc
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    from harness import suite_process
    server = suite_process("customers", db, {"customers": ports["customers"]}, clock=clock, core="0-1")
    try:
        channel = grpc.insecure_channel(server.address, options=[("grpc.max_receive_message_length", 64 << 20)])
        stub = customers_pb2_grpc.CustomerServiceStub(channel)
        def records(start: int, end: int):
            rng = random.Random(start)
            for i in range(start, end):
                owner, team = customer_owner(i)
                created = START_MS - (rows - i) * 30_000
                status = 1 + i % 8
                customer = pb.Customer(
                    id=customer_id(i, rows), version=1, name=f"Firm {rng.getrandbits(24):06x} {i}", industry=f"industry-{i % 30}",
                    region=f"region-{i % 20}", size=1 + i % 5, tags=[f"tag-{i % 50}"] if i % 10 == 0 else [],
                    phone=f"+1555{i:08d}", email=f"c{i}@example.com", grade=1 if i % 100 == 0 else 2 + i % 3,
                    key=i % 100 == 0, key_reason="seeded" if i % 100 == 0 else "", source=1 + i % 8,
                    lifecycle_status=status, lifecycle_changed_at_ms=created, owner_id=owner, team_id=team,
                    collaborator_ids=[f"rep{(i + 1) % REPS}"] if i % 7 == 0 else [],
                    last_activity_at_ms=START_MS - (i % 60) * DAY_MS, created_by="bench", created_at_ms=created,
                    updated_at_ms=created)
                yield pb.ImportCustomersRequest(record=pb.CustomerExportRecord(customer=customer))

        # Several streams at once: one stream is bound by its per-message round trips, not by the store.
        chunk = 25_000

        def import_chunk(start: int) -> None:
            result = stub.ImportCustomers(records(start, min(rows, start + chunk)), metadata=ADMIN, timeout=3600)
            if result.failed:
                bad = [r for r in result.results if r.status not in (pb.IMPORT_STATUS_IMPORTED, pb.IMPORT_STATUS_UNCHANGED)]
                raise RuntimeError(f"ImportCustomers failed {result.failed} rows, e.g. {bad[:3]}")

        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(import_chunk, range(0, rows, chunk)))
        channel.close()
    finally:
        server.stop()


def seed_forecast(db: Path, deals: int, ports: dict, clock: Path) -> float:
    """`deals` open opportunities delivered to crm-forecast as OPPORTUNITY_CREATED events (batches of
    500, as crm-opportunities' outbox relay sends them). Returns the expected Σ stage-weight × amount
    under the flat stage weights `forecast_settings` configures."""
    import grpc
    from crm.events.v1 import events_pb2 as ev, events_pb2_grpc
    from harness import suite_process
    server = suite_process("forecast", db, {"forecast": ports["forecast"]}, clock=clock, core="0-1")
    try:
        channel = grpc.insecure_channel(server.address)
        sink = events_pb2_grpc.EventSinkStub(channel)
        system = (("x-crm-service-token", SERVICE_TOKEN),)
        batch = []
        for i in range(deals):
            opp_id = f"opp_bench{i:07d}"
            close = time.strftime("%Y-%m-%d", time.gmtime((START_MS + (i % 80) * DAY_MS) / 1000))
            event = ev.Event(
                event_id=f"evt-bench-{i}", schema_version=1, kind=ev.EVENT_KIND_OPPORTUNITY_CREATED,
                occurred_at_ms=START_MS - DAY_MS, sequence=i + 1, producer="crm-opportunities", actor_id=f"u{i % 50}",
                actor_team_id=f"team-{i % 5}", aggregate_type=ev.AGGREGATE_TYPE_OPPORTUNITY, aggregate_id=opp_id,
                aggregate_version=1, opportunity_id=opp_id, team_id=f"team-{i % 5}", customer_id=f"cus-{opp_id}")
            event.opportunity_created.CopyFrom(ev.OpportunityCreatedPayload(
                title=f"Deal {i}", owner_id=f"u{i % 50}", amount_cents=100_000 + (i % 997) * 1_000, currency="EUR",
                stage=1 + i % 6, expected_close_date=close, source=1 + i % 8))
            batch.append(event)
            if len(batch) == 500 or i == deals - 1:
                acks = sink.Deliver(ev.DeliverEventsRequest(producer="crm-opportunities", events=batch),
                                    metadata=system, timeout=120).acks
                bad = [a for a in acks if a.status not in (ev.ACK_STATUS_ACCEPTED, ev.ACK_STATUS_DUPLICATE)]
                if bad:
                    raise RuntimeError(f"forecast refused events: {bad[:3]}")
                batch = []
        channel.close()
    finally:
        server.stop()
    return 0.0
