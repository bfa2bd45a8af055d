"""Crash durability (issue 10): `kill -9` a service in the middle of a concurrent write load, restart it on
the same store, and every write the client saw acknowledged is there, unchanged; requests that were
in flight are replayed by request_id and create nothing twice; the store passes
`PRAGMA integrity_check`. Repeated over several crash cycles per service.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from dataclasses import dataclass, field

import grpc
import pytest

from reliability_support import SCALE, kill9
from suite import DAY_MS, identity

WRITERS = 4
CYCLES = 2 * SCALE
LOAD_SECONDS = 1.5
OWNER = identity("crash-rep", "rep", "team-a")
ADMIN = identity("crash-admin", "admin", "hq")
_n = itertools.count(1)


@dataclass
class Writes:
    """What the clients saw: request ids acknowledged (with the record id) and those left in flight."""
    acked: dict[str, str] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Service:
    """How to create and read back one kind of record in one service."""

    def __init__(self, suite, name: str):
        self.suite, self.name = suite, name

    def stub(self):
        # A channel of its own (local subchannel pool): grpcio would otherwise reuse the subchannel of the
        # killed process, still backing off, and fail at once with "connection refused".
        channel = grpc.insecure_channel(self.suite.address(self.name), options=[("grpc.use_local_subchannel_pool", 1)])
        self.suite.channels.append(channel)
        if self.name == "leads":
            from crm.leads.v1 import leads_pb2_grpc
            return leads_pb2_grpc.LeadServiceStub(channel)
        if self.name == "customers":
            from crm.customers.v1 import customers_pb2_grpc
            return customers_pb2_grpc.CustomerServiceStub(channel)
        if self.name == "opportunities":
            from crm.opportunities.v1 import opportunities_pb2_grpc
            return opportunities_pb2_grpc.OpportunityServiceStub(channel)
        from crm.tickets.v1 import tickets_pb2_grpc
        return tickets_pb2_grpc.TicketServiceStub(channel)

    def create(self, stub, request_id: str, wait: bool = False) -> str:
        """Creates one record (idempotent by request_id: the content is a function of the id, so a
        replay is the same request) and returns its id."""
        n = int(request_id.rsplit("-", 1)[1])
        if self.name == "leads":
            from crm.leads.v1 import leads_pb2 as pb
            from leads_support import lead_input
            lead = lead_input(contact_name=f"Crash Contact {n}", phone=f"+49 151 {n // 10000 % 10000:04d} {n % 10000:04d}",
                              email=f"crash{n}@example.com", company=f"Crash {n} GmbH")
            return stub.CreateLead(pb.CreateLeadRequest(request_id=request_id, lead=lead,
                                                        routing=pb.INTAKE_ROUTING_CALLER),
                                   metadata=OWNER, timeout=10, wait_for_ready=wait).lead.id
        if self.name == "customers":
            from crm.customers.v1 import customers_pb2 as pb
            return stub.CreateCustomer(pb.CreateCustomerRequest(
                request_id=request_id, customer=pb.CustomerInput(name=f"Crash Test {request_id}")),
                metadata=OWNER, timeout=10, wait_for_ready=wait).customer.id
        if self.name == "opportunities":
            from crm.opportunities.v1 import opportunities_pb2 as pb
            return stub.CreateOpportunity(pb.CreateOpportunityRequest(
                request_id=request_id, customer_id=f"cus_{n}", title=f"Deal {n}", amount_cents=100_000 + n,
                currency="EUR", key_person_contact_id="contact-cfo", need="Automate packing", budget_cents=200_000,
                expected_close_date="2026-03-31", competitors=["Acme"], next_step="Call the CFO",
                next_step_due_ms=self.suite.clock.now_ms + DAY_MS), metadata=OWNER, timeout=10,
                wait_for_ready=wait).opportunity.id
        from crm.tickets.v1 import tickets_pb2 as pb
        return stub.CreateTicket(pb.CreateTicketRequest(
            request_id=request_id, kind=pb.TICKET_KIND_SERVICE_REQUEST, customer_id=f"cus_{n}",
            title=f"Printer jams ({n})"), metadata=OWNER, timeout=10, wait_for_ready=wait).ticket.id

    def exists(self, stub, record_id: str) -> bool:
        try:
            if self.name == "leads":
                from crm.leads.v1 import leads_pb2 as pb
                return stub.GetLead(pb.GetLeadRequest(lead_id=record_id), metadata=ADMIN, timeout=10,
                                    wait_for_ready=True).lead.id == record_id
            if self.name == "customers":
                from crm.customers.v1 import customers_pb2 as pb
                return stub.GetCustomer(pb.GetCustomerRequest(customer_id=record_id), metadata=ADMIN,
                                        timeout=10, wait_for_ready=True).customer.id == record_id
            if self.name == "opportunities":
                from crm.opportunities.v1 import opportunities_pb2 as pb
                return stub.GetOpportunity(pb.GetOpportunityRequest(opportunity_id=record_id), metadata=ADMIN,
                                           timeout=10, wait_for_ready=True).opportunity.id == record_id
            from crm.tickets.v1 import tickets_pb2 as pb
            return stub.GetTicket(pb.GetTicketRequest(ticket_id=record_id), metadata=ADMIN, timeout=10,
                                  wait_for_ready=True).ticket.id == record_id
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise


def write_load(service: Service, writes: Writes, stop: threading.Event) -> list[threading.Thread]:
    def writer(worker: int) -> None:
        stub = service.stub()
        while not stop.is_set():
            request_id = f"crash-{worker}-{next(_n)}"
            with writes.lock:
                writes.in_flight.add(request_id)
            try:
                record_id = service.create(stub, request_id)
            except grpc.RpcError:
                time.sleep(0.01)  # the process is gone: the request stays "in flight" (fate unknown)
                continue
            with writes.lock:
                writes.in_flight.discard(request_id)
                writes.acked[request_id] = record_id
    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("name", ["leads", "customers", "opportunities", "tickets"])
def test_kill_9_during_writes_loses_no_acknowledged_write(suite, name):
    service = Service(suite, name)
    suite.start(name)
    writes = Writes()
    killed_with_acks = []
    for cycle in range(CYCLES):
        stop = threading.Event()
        before = len(writes.acked)
        threads = write_load(service, writes, stop)
        time.sleep(LOAD_SECONDS)
        code = kill9(suite, name)            # mid-write: the writers are still going
        stop.set()
        for thread in threads:
            thread.join(10)
        assert code == -9, f"{name} exited with {code}, not by SIGKILL"
        killed_with_acks.append(len(writes.acked) - before)
        suite.start(name)                     # same store, same port

        stub = service.stub()
        missing = [(rid, record) for rid, record in writes.acked.items() if not service.exists(stub, record)]
        assert not missing, f"cycle {cycle}: {len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        # Requests whose answer never arrived: replaying them returns the stored result if they had
        # committed, or creates them now; either way exactly one record per request id.
        for request_id in sorted(writes.in_flight):
            writes.acked[request_id] = service.create(stub, request_id, wait=True)
        writes.in_flight.clear()
        again = {rid: service.create(stub, rid, wait=True) for rid in list(writes.acked)[-20:]}
        assert all(writes.acked[rid] == record for rid, record in again.items()), "a replay created a second record"
    assert min(killed_with_acks) > 0, f"a cycle acknowledged nothing before the kill: {killed_with_acks}"

    suite.stop(name)  # SIGTERM, exit 0
    db = sqlite3.connect(suite.directory / f"{name}.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()
    print(f"\n{name}: {CYCLES} kill -9 cycles, {len(writes.acked)} writes acknowledged or replayed, "
          f"acks per cycle before the kill {killed_with_acks}; none lost, integrity_check ok")
