"""JSON for people with curl (issue 8): `content-type: application/json` calls on the gateway's
gRPC paths are transcoded with the proto3 JSON mapping, authenticated like gRPC calls, forwarded to
the real backend, and answered as JSON (errors as {"code", "message"} with a mapped HTTP status).
Driven by the real curl with --http2-prior-knowledge against the real crm-gateway and crm-customers."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from gateway_fakes import ADMIN_TOKEN, Directory

CURL = shutil.which("curl")


@pytest.fixture
def gw(suite):
    if CURL is None:
        pytest.fail("curl is required for the JSON gateway tests")
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    suite.start("customers")
    directory = Directory(suite.channel("gateway"))
    team = directory.team("North")
    ann = directory.person("Ann", "rep", team.id)
    return {"suite": suite, "ann": ann, "url": f"http://{suite.address('gateway')}"}


def curl(gw, path, body, token=None, content_type="application/json"):
    """(HTTP status, headers, parsed JSON body) of one curl call."""
    args = [CURL, "-s", "-i", "--http2-prior-knowledge", "--max-time", "15",
            "-H", f"content-type: {content_type}", "--data-binary", body if isinstance(body, str) else json.dumps(body)]
    if token is not None:
        args += ["-H", f"authorization: Bearer {token}"]
    out = subprocess.run(args + [gw["url"] + path], capture_output=True, text=True, timeout=30, check=True).stdout
    # text=True turns curl's CRLF header lines into plain newlines.
    head, _, payload = out.partition("\n\n")
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, (json.loads(payload) if payload else None)


CREATE = "/crm.customers.v1.CustomerService/CreateCustomer"
GET = "/crm.customers.v1.CustomerService/GetCustomer"


def test_create_and_get_back_as_json(gw):
    ann = gw["ann"]
    status, headers, created = curl(gw, CREATE, {
        "requestId": "json-1",
        "customer": {"name": "Anvil Works", "industry": "Manufacturing", "region": "North",
                     "size": "COMPANY_SIZE_SMALL", "tags": ["steel", "b2b"], "phone": "+49 30 1234567"},
        "contacts": [{"name": "Ada Buyer", "job_title": "Head of Purchasing", "email": "ada@anvil.example",
                      "keyPerson": True}],
    }, token=ann.token)
    assert status == 200, created
    assert headers["content-type"] == "application/json"
    assert headers["grpc-status"] == "0"
    customer = created["customer"]
    assert customer["name"] == "Anvil Works"
    assert customer["size"] == "COMPANY_SIZE_SMALL"
    assert customer["tags"] == ["steel", "b2b"]
    assert customer["ownerId"] == ann.user.id  # identity came from the bearer token
    assert isinstance(customer["version"], str) and int(customer["version"]) >= 1  # int64 as a string

    status, _, got = curl(gw, GET, {"customer_id": customer["id"]}, token=ann.token)
    assert status == 200, got
    assert got["customer"]["id"] == customer["id"]
    assert got["customer"]["name"] == "Anvil Works"

    # The same call over JSON and over gRPC see the same record.
    from crm.customers.v1 import customers_pb2, customers_pb2_grpc
    stub = customers_pb2_grpc.CustomerServiceStub(gw["suite"].channel("gateway"))
    via_grpc = stub.GetCustomer(customers_pb2.GetCustomerRequest(customer_id=customer["id"]), metadata=ann.md(), timeout=15)
    assert via_grpc.customer.name == "Anvil Works"
    assert str(via_grpc.customer.version) == got["customer"]["version"]


def test_invalid_requests_are_400_naming_the_field(gw):
    token = gw["ann"].token
    status, headers, error = curl(gw, CREATE, {"customer": {"name": 5}}, token=token)
    assert status == 400
    assert error["code"] == "INVALID_ARGUMENT"
    assert "customer.name" in error["message"]
    assert headers["grpc-status"] == "3"

    status, _, error = curl(gw, CREATE, {"customer": {"colour": "red"}}, token=token)
    assert status == 400 and "customer.colour" in error["message"], error

    status, _, error = curl(gw, CREATE, {"customer": {"size": "HUGE"}}, token=token)
    assert status == 400 and "customer.size" in error["message"], error

    status, _, error = curl(gw, CREATE, "{not json", token=token)
    assert status == 400 and error["code"] == "INVALID_ARGUMENT", error

    # A request the backend itself rejects: its status and message come back as JSON.
    status, _, error = curl(gw, GET, {"customerId": "no-such-customer"}, token=token)
    assert status == 404 and error["code"] == "NOT_FOUND", error


def test_missing_or_bad_token_is_401(gw):
    for token in (None, "not-a-real-token"):
        status, headers, error = curl(gw, GET, {"customerId": "x"}, token=token)
        assert status == 401, error
        assert error["code"] == "UNAUTHENTICATED"
        assert headers["grpc-status"] == "16"


def test_unknown_methods_and_streaming_methods(gw):
    token = gw["ann"].token
    status, _, error = curl(gw, "/crm.customers.v1.CustomerService/NoSuchMethod", {}, token=token)
    assert status in (404, 501) and error["code"] in ("NOT_FOUND", "UNIMPLEMENTED"), error
    status, _, error = curl(gw, "/crm.customers.v1.CustomerService/ExportCustomers", {}, token=token)
    assert status == 501 and error["code"] == "UNIMPLEMENTED" and "streaming" in error["message"], error


def test_gateway_service_methods_work_as_json(gw):
    ann = gw["ann"]
    status, _, me = curl(gw, "/crm.gateway.v1.GatewayService/WhoAmI", "", token=ann.token)
    assert status == 200, me
    assert me["user"]["id"] == ann.user.id
    assert me["user"]["role"] == "ROLE_REP"


def test_grpc_calls_still_work_next_to_json(gw):
    from crm.gateway.v1 import gateway_pb2, gateway_pb2_grpc
    stub = gateway_pb2_grpc.GatewayServiceStub(gw["suite"].channel("gateway"))
    me = stub.WhoAmI(gateway_pb2.WhoAmIRequest(), metadata=gw["ann"].md(), timeout=15)
    assert me.user.id == gw["ann"].user.id
