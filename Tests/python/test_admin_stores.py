"""crm-admin on stores (issue 9): migrate an old store without losing a row, refuse a newer one,
back up a store under write load and restore an integral copy. Everything runs the real
`crm-admin`, `crm-leads` and `crm-tickets` binaries on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

import grpc
import pytest

from admin_support import admin, applied_migrations, insert_row, integrity, ok, table_counts
from conftest import find_binary
from suite import SERVICE_TOKEN, START_MS, identity

ADMIN = identity("admin-1", "admin", "hq")


# --------------------------------------------------------------------------------------------
# migrate
# --------------------------------------------------------------------------------------------


def old_leads_store(path, version=1, leads=3):
    """A crm-leads store at an old schema version holding real-looking leads, assignments and
    contact attempts, written in that version's tables."""
    ok("migrate", "up", "--service", "leads", "--db", path, "--to", str(version), "--create")
    assert len(applied_migrations(path)) == version
    with sqlite3.connect(path) as db:
        for i in range(1, leads + 1):
            insert_row(db, "leads", id=f"lead_old_{i}", version=2, source=6, scenario="asked for a demo at booth 12",
                       contact_name=f"Old Contact {i}", phone=f"+4930123456{i:02d}", email=f"old{i}@example.com",
                       company=f"Old Co {i}", background="family-run bakery chain", initial_need="POS terminals",
                       attributes="{}", status=2, owner_id="rep-a", team_id="team-a",
                       assigned_at_ms=START_MS, activation_deadline_ms=START_MS + 24 * 3600_000,
                       created_by="rep-a", created_at_ms=START_MS - i, updated_at_ms=START_MS)
            insert_row(db, "assignments", id=f"asg_old_{i}", lead_id=f"lead_old_{i}", kind=7, to_owner_id="rep-a",
                       actor_id="rep-a", at_ms=START_MS, activation_deadline_ms=START_MS + 24 * 3600_000)
            insert_row(db, "contact_attempts", id=f"cat_old_{i}", lead_id=f"lead_old_{i}", channel=1, outcome=1,
                       note="reached", actor_id="rep-a", contacted_at_ms=START_MS, recorded_at_ms=START_MS)
    return table_counts(path)


def test_migrate_status_names_version_and_pending_migrations(tmp_path):
    store = tmp_path / "leads.sqlite"
    old_leads_store(store, version=1)
    status = ok("migrate", "status", "--service", "leads", "--db", store)
    assert "version   1" in status.stdout
    assert "2 configuration" in status.stdout and "6 runtime" in status.stdout
    check = admin("migrate", "status", "--service", "leads", "--db", store, "--check")
    assert check.code == 1, check.explain()
    missing = admin("migrate", "status", "--service", "leads", "--db", tmp_path / "absent.sqlite")
    assert missing.code == 2 and "no store at" in missing.stderr
    assert not (tmp_path / "absent.sqlite").exists(), "status must not create a store"


def test_migrate_up_upgrades_an_old_store_without_losing_a_row(suite, tmp_path):
    store = tmp_path / "leads.sqlite"
    before = old_leads_store(store, version=1)
    assert before == {"leads": 3, "assignments": 3, "contact_attempts": 3}

    up = ok("migrate", "up", "--service", "leads", "--db", store)
    assert "backup" in up.stdout and "applied   6 runtime" in up.stdout, up.explain()
    newest = applied_migrations(store)
    assert len(newest) >= 6 and newest[0] == "0001-leads"
    after = table_counts(store)
    for table, rows in before.items():
        assert after[table] == rows, f"{table}: {rows} rows before, {after[table]} after"
    assert integrity(store) == "ok"

    # The backup taken first is the old store, intact.
    backups = list(tmp_path.glob("leads.pre-migrate-v1-*.sqlite"))
    assert len(backups) == 1, list(tmp_path.iterdir())
    assert applied_migrations(backups[0]) == ["0001-leads"]
    assert table_counts(backups[0]) == before

    # The upgraded store serves every old lead through the real service.
    again = ok("migrate", "up", "--service", "leads", "--db", store)
    assert "nothing to apply" in again.stdout
    from crm.leads.v1 import leads_pb2, leads_pb2_grpc
    suite.start("leads", "--db", str(store))
    leads = leads_pb2_grpc.LeadServiceStub(suite.channel("leads"))
    for i in range(1, 4):
        got = leads.GetLead(leads_pb2.GetLeadRequest(lead_id=f"lead_old_{i}", include_history=True),
                            metadata=ADMIN, timeout=10)
        assert got.lead.contact_name == f"Old Contact {i}"
        assert got.lead.phone == f"+4930123456{i:02d}"
        assert [a.id for a in got.assignments] == [f"asg_old_{i}"]
        assert [c.id for c in got.contacts] == [f"cat_old_{i}"]


def test_migrate_up_to_a_version_stops_there_and_never_goes_back(tmp_path):
    store = tmp_path / "leads.sqlite"
    old_leads_store(store, version=1)
    ok("migrate", "up", "--service", "leads", "--db", store, "--to", "3")
    assert len(applied_migrations(store)) == 3
    back = admin("migrate", "up", "--service", "leads", "--db", store, "--to", "2")
    assert back.code == 64 and "only go forward" in back.stderr, back.explain()
    assert len(applied_migrations(store)) == 3


def test_a_store_from_a_newer_version_is_refused_by_admin_and_service(tmp_path):
    store = tmp_path / "tickets.sqlite"
    # A real crm-tickets store, then stamped by a "future" release.
    ok("migrate", "up", "--service", "tickets", "--db", store, "--create")
    with sqlite3.connect(store) as db:
        db.execute("INSERT INTO grdb_migrations VALUES ('0099-from-the-future')")
    before = store.read_bytes()
    for command in (["migrate", "up"], ["migrate", "status"]):
        refused = admin(*command, "--service", "tickets", "--db", store)
        assert refused.code == 2, refused.explain()
        assert "newer" in refused.stderr and "0099-from-the-future" in refused.stderr
    assert store.read_bytes() == before, "a refused store must not be touched"
    assert not list(tmp_path.glob("*.pre-migrate-*")), "no backup is taken of a refused store"

    # The service itself refuses to serve it, naming the unknown migration.
    service = subprocess.run([str(find_binary("crm-tickets")), "--listen", "127.0.0.1:0", "--db", str(store),
                              "--service-token", SERVICE_TOKEN], capture_output=True, text=True, timeout=30)
    assert service.returncode != 0
    assert "0099-from-the-future" in service.stdout + service.stderr


# --------------------------------------------------------------------------------------------
# backup / restore
# --------------------------------------------------------------------------------------------


def test_backup_under_write_load_restores_to_an_integral_copy(suite, tmp_path):
    from crm.tickets.v1 import tickets_pb2 as pb, tickets_pb2_grpc

    suite.start("tickets")
    stub = tickets_pb2_grpc.TicketServiceStub(suite.channel("tickets"))
    rep = identity("u1", "rep", "team-a")
    created: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def writer(worker: int):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                t = stub.CreateTicket(pb.CreateTicketRequest(
                    request_id=f"load-{worker}-{n}", kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id="cus_1",
                    title=f"Load ticket {worker}/{n}", details="x" * 500), metadata=rep, timeout=10).ticket
                stub.AddComment(pb.AddCommentRequest(ticket_id=t.id, body=f"comment on {n}"), metadata=rep, timeout=10)
                created.append(t.id)
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)
                return

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    try:
        while len(created) < 30:
            time.sleep(0.05)
            assert not failures, failures
        copies = []
        for k in range(3):  # several backups while the writers keep going
            out = tmp_path / f"backup-{k}.sqlite"
            confirmed = list(created)  # acknowledged before the backup started: must be in it
            run = ok("backup", "--db", suite.directory / "tickets.sqlite", "--out", out)
            assert "integrity ok" in run.stdout, run.explain()
            copies.append((out, confirmed, len(created)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not failures, failures
    assert len(created) > copies[-1][2], "the writers kept writing after the last backup"

    for out, confirmed, acknowledged_after in copies:
        assert integrity(out) == "ok"
        with sqlite3.connect(out) as db:
            ids = {r[0] for r in db.execute("SELECT id FROM tickets")}
            # A consistent snapshot: no comment without its ticket, never half a request.
            orphans = db.execute("SELECT COUNT(*) FROM comments WHERE ticket_id NOT IN (SELECT id FROM tickets)").fetchone()[0]
        assert orphans == 0
        assert set(confirmed) <= ids, "a ticket acknowledged before the backup is missing from it"
        assert len(ids) <= acknowledged_after + 3  # at most one in-flight create per writer

    # Restore the last copy into a fresh store and serve it: every ticket in the copy is readable.
    out = copies[-1][0]
    restored = tmp_path / "restored" / "tickets.sqlite"
    run = ok("restore", "--from", out, "--db", restored, "--service", "tickets")
    assert "integrity ok" in run.stdout
    assert integrity(restored) == "ok"
    with sqlite3.connect(out) as db:
        comments = dict(db.execute("SELECT t.id, COUNT(c.id) FROM tickets t LEFT JOIN comments c ON c.ticket_id = t.id GROUP BY t.id"))
    suite.stop("tickets")
    suite.start("tickets", "--db", str(restored))
    stub = tickets_pb2_grpc.TicketServiceStub(suite.channel("tickets"))
    assert len(comments) >= 30
    for ticket_id, count in comments.items():
        got = stub.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id, include_comments=True), metadata=ADMIN, timeout=10)
        assert got.ticket.id == ticket_id and len(got.comments) == count


def test_restore_refuses_to_overwrite_without_force_and_keeps_the_old_store(tmp_path):
    store = tmp_path / "leads.sqlite"
    old_leads_store(store, version=1, leads=2)
    backup = tmp_path / "b.sqlite"
    ok("backup", "--db", store, "--out", backup)
    exists = admin("backup", "--db", store, "--out", backup)
    assert exists.code == 2 and "--force" in exists.stderr
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM contact_attempts")
        db.execute("DELETE FROM assignments")
        db.execute("DELETE FROM leads")
    refused = admin("restore", "--from", backup, "--db", store)
    assert refused.code == 2 and "--force" in refused.stderr
    ok("restore", "--from", backup, "--db", store, "--force", "--service", "leads")
    assert table_counts(store)["leads"] == 2
    aside = list(tmp_path.glob("leads.pre-restore-*.sqlite"))
    assert len(aside) == 1 and table_counts(aside[0])["leads"] == 0

    corrupt = tmp_path / "corrupt.sqlite"
    with sqlite3.connect(backup) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'leads_by_created'").fetchone()[0]
    data = bytearray(backup.read_bytes())
    start = (root - 1) * page_size
    data[start:start + 12] = b"\x0d\x00\x00\x00\x09\xff\xff\x00\x00\x00\x00\x00"  # a b-tree page header that lies
    corrupt.write_bytes(bytes(data))
    bad = admin("restore", "--from", corrupt, "--db", tmp_path / "other.sqlite")
    assert bad.code == 2 and "integrity" in bad.stderr, bad.explain()
    assert not (tmp_path / "other.sqlite").exists()
