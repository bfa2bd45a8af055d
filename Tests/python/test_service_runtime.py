"""What every process of the suite does the same way, checked on each real executable with a
stock grpcio client: startup line, health, service-token auth, unknown methods, size limits,
deadlines, flags from the environment, --help, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import time

import grpc
import pytest

from suite import SERVICE_TOKEN, free_port

SERVICES = {
    "leads": "crm.leads.v1.LeadService",
    "customers": "crm.customers.v1.CustomerService",
    "opportunities": "crm.opportunities.v1.OpportunityService",
    "tickets": "crm.tickets.v1.TicketService",
    "forecast": "crm.forecast.v1.ForecastService",
    "gateway": "crm.gateway.v1.GatewayService",
}
# A unary method of each service that creates something, called with an empty request.
CREATE_METHODS = {
    "leads": "CreateLead",
    "customers": "CreateCustomer",
    "opportunities": "CreateOpportunity",
    "tickets": "CreateTicket",
    "forecast": "SetTargets",
    "gateway": "CreateUser",
}
SUITE_FLAGS = ["--listen", "--db", "--service-token", "--leads-addr", "--customers-addr",
               "--opportunities-addr", "--tickets-addr", "--forecast-addr", "--gateway-addr"]


def _raw_unary(channel: grpc.Channel, path: str):
    """A call whose request and response are raw bytes, as for a method the client has no stub for."""
    return channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)


ADMIN_TOKEN = "admin-secret"


def _metadata(name: str):
    """How an authorised caller reaches the service: the bootstrap admin's bearer token at the
    gateway, the suite's service token and an admin identity everywhere else."""
    if name == "gateway":
        return (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    return (("x-crm-service-token", SERVICE_TOKEN), ("x-crm-user", "u-admin"), ("x-crm-role", "admin"),
            ("x-crm-team", "team-a"))


@pytest.fixture(params=sorted(SERVICES))
def service(request, suite):
    name = request.param
    extra = ("--admin-token", ADMIN_TOKEN) if name == "gateway" else ()
    suite.start(name, *extra)
    return name, suite


def test_health_is_serving_for_the_process_and_its_service(service, proto_stubs):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    name, suite = service
    stub = health_pb2_grpc.HealthStub(suite.channel(name))
    for target in ("", SERVICES[name]):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=target), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, target
    with pytest.raises(grpc.RpcError) as missing:
        stub.Check(health_pb2.HealthCheckRequest(service="crm.nope.v1.Nothing"), timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_calls_without_the_service_token_are_unauthenticated(service):
    name, suite = service
    if name == "gateway":
        pytest.skip("the gateway authenticates bearer tokens; tested in test_gateway*.py")
    call = _raw_unary(suite.channel(name), f"/{SERVICES[name]}/{CREATE_METHODS[name]}")
    for metadata in [(), (("x-crm-service-token", "wrong"), ("x-crm-user", "u1"), ("x-crm-role", "admin"))]:
        with pytest.raises(grpc.RpcError) as denied:
            call(b"", metadata=metadata, timeout=5)
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "x-crm-service-token" in denied.value.details()


def test_an_empty_create_is_invalid_argument_naming_fields(service):
    name, suite = service
    call = _raw_unary(suite.channel(name), f"/{SERVICES[name]}/{CREATE_METHODS[name]}")
    with pytest.raises(grpc.RpcError) as invalid:
        call(b"", metadata=_metadata(name), timeout=5)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # SUITE.md: the message names every offending field as "field: problem".
    assert ": required" in invalid.value.details(), invalid.value.details()


def test_unknown_method_and_service_are_unimplemented(service):
    name, suite = service
    channel = suite.channel(name)
    for path in (f"/{SERVICES[name]}/NoSuchMethod", "/crm.nope.v1.Nothing/Call"):
        with pytest.raises(grpc.RpcError) as unknown:
            _raw_unary(channel, path)(b"", metadata=_metadata(name), timeout=5)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED, path


def test_a_5_mib_request_is_resource_exhausted_and_the_process_lives_on(service, proto_stubs):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    name, suite = service
    channel = suite.channel(name)
    call = _raw_unary(channel, f"/{SERVICES[name]}/{CREATE_METHODS[name]}")
    with pytest.raises(grpc.RpcError) as too_big:
        call(b"\x0a\x80\x80\x40" + b"x" * (5 << 20), metadata=_metadata(name), timeout=10)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "4194304" in too_big.value.details()
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_too_short_deadline_is_deadline_exceeded(service, proto_stubs):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    name, suite = service
    watch = health_pb2_grpc.HealthStub(suite.channel(name)).Watch(health_pb2.HealthCheckRequest(), timeout=0.3)
    with pytest.raises(grpc.RpcError) as late:
        for reply in watch:
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_help_documents_every_suite_flag(name, binary):
    result = subprocess.run([str(binary(f"crm-{name}")), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for flag in SUITE_FLAGS:
        assert flag in result.stdout, f"crm-{name} --help does not mention {flag}"


@pytest.mark.parametrize("name", ["leads", "customers"])
def test_flags_come_from_the_environment_and_flags_win(name, start_process, tmp_path, proto_stubs):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    env_port = free_port()
    process = start_process(f"crm-{name}", "--db", str(tmp_path / "env.sqlite"),
                            env={"CRM_SERVICE_TOKEN": SERVICE_TOKEN, "CRM_LISTEN": f"127.0.0.1:{env_port}"})
    # --listen (from the fixture, port 0) beats CRM_LISTEN.
    assert process.address != f"127.0.0.1:{env_port}"
    assert (tmp_path / "env.sqlite").exists()
    with grpc.insecure_channel(process.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
