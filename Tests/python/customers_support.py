"""Shared helpers of the crm-customers tests (test_customers*.py): a started crm-customers with
typed stubs, identities, and small builders, so each test reads as the rule it checks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import grpc
import pytest

from suite import identity, system_identity

RPC_TIMEOUT_S = 10

_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


@dataclass
class Customers:
    """A running crm-customers: its protobuf modules, stub, EventSink stub and the suite around it."""

    suite: object
    pb: object
    stub: object
    events_pb: object
    sink: object
    opp_pb: object
    tickets_pb: object

    # -- identities ------------------------------------------------------------------------
    @staticmethod
    def rep(user: str, team: str = "team-a"):
        return identity(user, "rep", team)

    @staticmethod
    def manager(user: str, team: str = "team-a"):
        return identity(user, "manager", team)

    @staticmethod
    def admin(user: str = "admin-1", team: str = ""):
        return identity(user, "admin", team)

    @staticmethod
    def system():
        return system_identity()

    # -- calls ---------------------------------------------------------------------------
    def call(self, method: str, request, md):
        return getattr(self.stub, method)(request, metadata=md, timeout=RPC_TIMEOUT_S)

    def error(self, method: str, request, md) -> grpc.RpcError:
        """The RpcError a call must fail with (the test fails if it succeeds)."""
        with pytest.raises(grpc.RpcError) as info:
            self.call(method, request, md)
        return info.value

    def create(self, md, name: str | None = None, *, contacts=(), request_id: str | None = None, **fields):
        request = self.pb.CreateCustomerRequest(
            request_id=request_id or unique("req"),
            customer=self.pb.CustomerInput(name=name or unique("Company"), **fields),
            contacts=list(contacts))
        return self.call("CreateCustomer", request, md)

    def get(self, customer_id: str, md):
        return self.call("GetCustomer", self.pb.GetCustomerRequest(customer_id=customer_id), md).customer

    def timeline(self, customer_id: str, md, **filters):
        entries, token = [], ""
        while True:
            page = self.call("ListTimeline", self.pb.ListTimelineRequest(
                customer_id=customer_id, page_token=token, page_size=100, **filters), md)
            entries += page.entries
            token = page.next_page_token
            if not token:
                return entries

    def deliver(self, *events, producer: str = "crm-opportunities"):
        return self.sink.Deliver(self.events_pb.DeliverEventsRequest(producer=producer, events=list(events)),
                                 metadata=system_identity(), timeout=RPC_TIMEOUT_S).acks

    def event(self, kind: str, customer_id: str, *, at_ms: int | None = None, producer: str = "crm-opportunities",
              **fields):
        """An Event envelope as the producing service writes it (kind like "DEAL_WON")."""
        pb = self.events_pb
        return pb.Event(event_id=unique("evt"), schema_version=1, kind=getattr(pb, f"EVENT_KIND_{kind}"),
                        occurred_at_ms=at_ms if at_ms is not None else self.suite.clock.now_ms,
                        producer=producer, actor_id="u1", customer_id=customer_id, **fields)


def start_customers(suite, *extra: str) -> Customers:
    suite.start("customers", *extra)
    from crm.customers.v1 import customers_pb2, customers_pb2_grpc
    from crm.events.v1 import events_pb2, events_pb2_grpc
    from crm.opportunities.v1 import opportunities_pb2
    from crm.tickets.v1 import tickets_pb2
    channel = suite.channel("customers")
    return Customers(suite, customers_pb2, customers_pb2_grpc.CustomerServiceStub(channel), events_pb2,
                     events_pb2_grpc.EventSinkStub(channel), opportunities_pb2, tickets_pb2)


def restart_customers(crm: Customers) -> None:
    """Stops crm-customers (SIGTERM must exit 0) and starts it again on the same store."""
    crm.suite.stop("customers")
    crm.suite.start("customers")
