#!/usr/bin/env python3
"""The gRPC reference for the GetCustomer benchmark: a stock Python grpcio server (grpc.aio, the faster
of grpcio's two server APIs) answering `crm.customers.v1.CustomerService/GetCustomer` from the very same
SQLite store crm-customers serves, with the same work per call: service-token check, caller identity,
id validation, one indexed row read, visibility (owner / team / collaborators / admin), and the same
response (customer, next action for its lifecycle status, allowed manual transitions).

    reference_customers.py --listen 127.0.0.1:PORT --db customers.sqlite --service-token T --stubs DIR
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys

COLUMNS = ("id, version, name, industry, region, size, tags, website, address, notes, phone, email, grade, "
           "key_reason, key_marked_at_ms, key_marked_by, source, source_detail, lead_id, lifecycle_status, "
           "lifecycle_changed_at_ms, owner_id, team_id, collaborators, last_activity_at_ms, open_opportunity_count, "
           "open_ticket_count, churn_risk, churn_risk_since_ms, churn_reason, archived, archived_at_ms, "
           "archive_reason, created_by, created_at_ms, updated_at_ms")
SEPARATOR = "\x1f"

# customers.proto LifecycleStatus -> (NextActionKind, text), as crm-customers' Lifecycle.nextAction.
NEXT_ACTIONS = {1: (1, "Make contact"), 2: (2, "Dig into needs"), 3: (3, "Confirm the solution and move to a quote"),
                4: (4, "Identify key people and the decision chain"), 5: (5, "Proposal, trial or demo unit"),
                6: (6, "Start delivery, training and service (R9)"), 7: (7, "Drive repurchase"), 8: (8, "Win back")}
TRANSITIONS = {1: [2, 3, 8], 2: [3, 4, 8], 3: [2, 4, 5, 8], 4: [3, 5, 6, 8], 5: [3, 4, 6, 8], 6: [7, 8], 7: [8],
               8: [2, 3]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--service-token", required=True)
    parser.add_argument("--stubs", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    asyncio.run(serve(args))


async def serve(args) -> None:
    import grpc
    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc

    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only = ON")
    select = f"SELECT {COLUMNS} FROM customers WHERE id = ?"

    class Customers(customers_pb2_grpc.CustomerServiceServicer):
        async def GetCustomer(self, request, context):
            metadata = dict(context.invocation_metadata())
            if metadata.get("x-crm-service-token") != args.service_token:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "x-crm-service-token: not valid")
            user, role, team = metadata.get("x-crm-user", ""), metadata.get("x-crm-role", ""), metadata.get("x-crm-team", "")
            if not user or role not in ("rep", "manager", "admin"):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "x-crm-user / x-crm-role: required")
            if not request.customer_id or len(request.customer_id) > 200:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "customer_id: required")
            row = db.execute(select, (request.customer_id,)).fetchone()
            if row is None or not can_see(role, user, team, row[21], row[22], row[23]):
                await context.abort(grpc.StatusCode.NOT_FOUND, f"customer {request.customer_id} not found")
            customer = to_customer(pb, row)
            kind, text = NEXT_ACTIONS.get(customer.lifecycle_status, (0, ""))
            return pb.GetCustomerResponse(
                customer=customer, next_action=pb.NextAction(kind=kind, text=text),
                allowed_transitions=[] if customer.archived else TRANSITIONS.get(customer.lifecycle_status, []))

    server = grpc.aio.server()
    customers_pb2_grpc.add_CustomerServiceServicer_to_server(Customers(), server)
    server.add_insecure_port(args.listen)
    await server.start()
    print(f"listening on {args.listen}", flush=True)
    await server.wait_for_termination()


def can_see(role: str, user: str, team: str, owner: str, owner_team: str, collaborators: str) -> bool:
    if role == "admin":
        return True
    others = collaborators.split(SEPARATOR) if collaborators else []
    if role == "manager" and team and owner_team == team:
        return True
    return owner == user or user in others


def to_customer(pb, r):
    return pb.Customer(
        id=r[0], version=r[1], name=r[2], industry=r[3], region=r[4], size=r[5],
        tags=r[6].split(SEPARATOR) if r[6] else [], website=r[7], address=r[8], notes=r[9], phone=r[10], email=r[11],
        grade=r[12], key=r[12] == 1, key_reason=r[13], key_marked_at_ms=r[14], key_marked_by=r[15], source=r[16],
        source_detail=r[17], lead_id=r[18], lifecycle_status=r[19], lifecycle_changed_at_ms=r[20], owner_id=r[21],
        team_id=r[22], collaborator_ids=r[23].split(SEPARATOR) if r[23] else [], last_activity_at_ms=r[24],
        open_opportunity_count=r[25], open_ticket_count=r[26], churn_risk=bool(r[27]), churn_risk_since_ms=r[28],
        churn_reason=r[29], archived=bool(r[30]), archived_at_ms=r[31], archive_reason=r[32], created_by=r[33],
        created_at_ms=r[34], updated_at_ms=r[35])


if __name__ == "__main__":
    main()
