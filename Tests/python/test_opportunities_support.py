"""Helpers shared by the crm-opportunities tests (no tests here).

Everything goes over gRPC to the real `crm-opportunities` executable, with stock grpcio stubs
generated from proto/, and the call metadata crm-gateway would forward (suite.identity).
"""

from __future__ import annotations

import itertools
import time

import grpc
import pytest

from suite import DAY_MS, HOUR_MS, identity, system_identity

REP_A = identity("rep-a", "rep", "team-a")
REP_B = identity("rep-b", "rep", "team-a")
MANAGER_A = identity("manager-a", "manager", "team-a")
MANAGER_B = identity("manager-b", "manager", "team-b")
ADMIN = identity("admin-1", "admin", "hq")
SYSTEM = system_identity()

_ids = itertools.count(1)


def pb():
    from crm.opportunities.v1 import opportunities_pb2

    return opportunities_pb2


def stub(suite):
    from crm.opportunities.v1 import opportunities_pb2_grpc

    return opportunities_pb2_grpc.OpportunityServiceStub(suite.channel("opportunities"))


def fail(code, call, request, metadata, timeout=10):
    """Calls, requires the status `code`, returns the status message."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, metadata=metadata, timeout=timeout)
    assert info.value.code() == code, f"expected {code}, got {info.value.code()}: {info.value.details()}"
    return info.value.details()


def create_request(suite, **overrides):
    """A complete R3 create request (every field a rule needs), with overrides."""
    o = pb()
    fields = dict(
        request_id=f"req-{next(_ids)}-{time.monotonic_ns()}",
        customer_id="cust-1",
        title="Packaging line retrofit",
        amount_cents=5_000_000,
        currency="EUR",
        key_person_contact_id="contact-cfo",
        need="Automate the end-of-line packing",
        budget_cents=6_000_000,
        expected_close_date="2026-03-31",
        competitors=["Acme Automation"],
        next_step="Call the CFO about the budget",
        next_step_due_ms=suite.clock.now_ms + DAY_MS,
    )
    fields.update(overrides)
    return o.CreateOpportunityRequest(**fields)


def create(suite, opp, who=REP_A, **overrides):
    response = opp.CreateOpportunity(create_request(suite, **overrides), metadata=who, timeout=10)
    return response.opportunity


def get(opp, opportunity_id, who=REP_A, **flags):
    return opp.GetOpportunity(pb().GetOpportunityRequest(opportunity_id=opportunity_id, **flags),
                              metadata=who, timeout=10)


def follow_up(suite, opp, opportunity_id, who=REP_A, **overrides):
    o = pb()
    fields = dict(
        request_id=f"fu-{next(_ids)}-{time.monotonic_ns()}",
        opportunity_id=opportunity_id,
        type=o.ACTIVITY_TYPE_CALL,
        conclusion="CFO confirmed the budget is approved for Q1",
        next_step="Send the revised proposal",
        next_step_due_ms=suite.clock.now_ms + 2 * DAY_MS,
    )
    fields.update(overrides)
    return opp.RecordFollowUp(o.RecordFollowUpRequest(**fields), metadata=who, timeout=10)


def confirm_key_person(opp, o, who=REP_A):
    return opp.UpdateOpportunity(pb().UpdateOpportunityRequest(
        opportunity_id=o.id, version=o.version, key_person_confirmed=True), metadata=who, timeout=10).opportunity


def sweep(opp):
    return opp.RunSweep(pb().RunSweepRequest(), metadata=ADMIN, timeout=30)


def risk_kinds(o):
    return {(r.kind, r.level) for r in o.risk.reasons}


__all__ = [
    "ADMIN", "DAY_MS", "HOUR_MS", "MANAGER_A", "MANAGER_B", "REP_A", "REP_B", "SYSTEM",
    "confirm_key_person", "create", "create_request", "fail", "follow_up", "get", "pb", "risk_kinds", "stub", "sweep",
]
