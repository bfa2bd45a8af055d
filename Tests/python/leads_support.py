"""Helpers shared by the crm-leads tests (test_leads*.py): stubs, valid R1 inputs, error checks.

Every helper talks to the real crm-leads executable over gRPC with stock grpcio stubs.
"""

from __future__ import annotations

import itertools
import time

import grpc
import pytest

from suite import DAY_MS, HOUR_MS, START_MS, identity, system_identity  # noqa: F401 (re-exported)

TIMEOUT_S = 15.0
_counter = itertools.count(1)


def pb():
    from crm.leads.v1 import leads_pb2
    return leads_pb2


def leads_stub(suite):
    from crm.leads.v1 import leads_pb2_grpc
    return leads_pb2_grpc.LeadServiceStub(suite.channel("leads"))


def start_leads(suite, *extra: str):
    """crm-leads with the periodic sweep effectively off, so only RunSweep moves R2 state in tests."""
    process = suite.start("leads", "--directory-cache-ms", "0", *extra)
    return process


def unique_phone() -> str:
    n = next(_counter)
    return f"+49 151 {n // 10000 % 10000:04d} {n % 10000:04d}"


def lead_input(**overrides):
    """A complete, valid R1 input with a unique phone and email."""
    n = next(_counter)
    fields = dict(
        source=pb().LEAD_SOURCE_TRADE_SHOW,
        source_detail="Hannover Messe 2026",
        scenario="asked for a demo at booth 12",
        contact_name=f"Anna Schmidt {n}",
        phone=f"+49 (151) {n // 10000 % 1000:03d}-{n % 10000:04d}9",
        email=f"Anna.Schmidt{n}@Example.COM",
        job_title="Head of Operations",
        company=f"Schmidt Logistik {n} GmbH",
        region="DE-North",
        industry="Logistics",
        background="Runs 40 trucks, spreadsheets today",
        initial_need="fleet scheduling for 40 trucks",
    )
    fields.update(overrides)
    return pb().LeadInput(**fields)


def create(stub, who, lead=None, request_id="", routing=0, owner_id=""):
    request = pb().CreateLeadRequest(request_id=request_id, lead=lead or lead_input(), routing=routing,
                                     owner_id=owner_id)
    return stub.CreateLead(request, metadata=who, timeout=TIMEOUT_S)


def get(stub, who, lead_id, history=False):
    return stub.GetLead(pb().GetLeadRequest(lead_id=lead_id, include_history=history), metadata=who,
                        timeout=TIMEOUT_S)


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    """Runs a call that must fail and returns its error."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


def assert_status(error: grpc.RpcError, code: grpc.StatusCode, *fragments: str) -> None:
    assert error.code() == code, f"expected {code}, got {error.code()}: {error.details()}"
    for fragment in fragments:
        assert fragment in error.details(), f"{fragment!r} not in {error.details()!r}"


def admin():
    return identity("admin-1", "admin", "hq")


def quiet_sweeps(stub, **settings):
    """Admin: long sweep period (tests drive the sweep with RunSweep) plus any other settings."""
    current = stub.GetSettings(pb().GetSettingsRequest(), metadata=admin(), timeout=TIMEOUT_S).settings
    request = pb().UpdateSettingsRequest(version=current.version, sweep_interval_ms=DAY_MS, **settings)
    return stub.UpdateSettings(request, metadata=admin(), timeout=TIMEOUT_S).settings


def sweep(stub):
    return stub.RunSweep(pb().RunSweepRequest(), metadata=admin(), timeout=TIMEOUT_S)


def eventually(check, timeout_s: float = 20.0, interval_s: float = 0.25):
    """Retries `check` (returning a value or raising) until it succeeds or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except (AssertionError, grpc.RpcError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval_s)
