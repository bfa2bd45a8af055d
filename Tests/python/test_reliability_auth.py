"""The auth matrix (issue 10, SUITE.md "Who is calling"): every method of every service, enumerated
from the generated Python descriptors, called

* without any token                      -> UNAUTHENTICATED (services and the gateway alike);
* with a wrong service token / bearer    -> UNAUTHENTICATED;
* through the gateway without a bearer   -> UNAUTHENTICATED, for every routed backend method;
* as another team's rep and manager, aimed at team-a's records
                                         -> NOT_FOUND (the record is invisible, exactly as if missing),
                                            PERMISSION_DENIED (a write or an admin/manager action they
                                            may not make), or OK with team-a's records left out
                                            (lists, reports): reads are HIDDEN, admin-only operations
                                            DENIED, every other write REFUSED unless OVERRIDES says otherwise;
* the gateway's own methods with team-b's bearer tokens, aimed at team-a's user, team and customer.

A method added to a .proto is covered the day it is added (methods come from the descriptors, the
expectation from its kind); one whose behaviour differs needs an OVERRIDES row with a reason.
"""

from __future__ import annotations

import grpc
import pytest

from auth_matrix import OWN_RECORDS, SEEDERS, aimed_request, complete, import_directory
from reliability_support import BACKENDS, MAIN_SERVICES, Method, methods_of, raw_call, status_of
from suite import SERVICE_TOKEN, identity

ADMIN_TOKEN = "auth-admin-token"
NOT_FOUND, DENIED_CODE, OK, UNAUTH = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                                      grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED)
REP_B = identity("rep-b", "rep", "team-b")
MANAGER_B = identity("manager-b", "manager", "team-b")


def start(suite, name):
    return suite.start(name, "--admin-token", ADMIN_TOKEN) if name == "gateway" else suite.start(name)


def empty_payloads(method: Method) -> list[bytes]:
    return [b"", b""] if method.client_streaming else [b""]


# ---------------------------------------------------------------------------------------------
# Without tokens, with wrong tokens
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("process", sorted(MAIN_SERVICES))
def test_every_method_refuses_missing_and_wrong_credentials(suite, process):
    start(suite, process)
    channel = suite.channel(process)
    attempts = {
        "no metadata at all": (),
        "identity without a service token": (("x-crm-user", "u1"), ("x-crm-role", "admin"), ("x-crm-team", "t")),
        "wrong service token": identity("u1", "admin", "hq", token="not-the-token"),
        "empty service token": identity("u1", "admin", "hq", token=""),
        "service token differing in the last byte": identity("u1", "admin", "hq", token=SERVICE_TOKEN[:-1] + "X"),
    }
    if process == "gateway":
        attempts |= {
            "wrong bearer": (("authorization", "Bearer wrong-token"),),
            "bearer without scheme": (("authorization", ADMIN_TOKEN),),
            "basic auth": (("authorization", "Basic YWRtaW46YWRtaW4="),),
        }
    wrong = []
    methods = methods_of(process)
    for method in methods:
        for what, metadata in attempts.items():
            code, details = status_of(lambda: raw_call(channel, method, empty_payloads(method), metadata))
            if code != UNAUTH:
                wrong.append(f"{method} with {what}: {code.name} {details!r}")
    assert not wrong, f"{len(wrong)} calls were not UNAUTHENTICATED:\n" + "\n".join(wrong)
    print(f"\n{process}: {len(methods)} methods x {len(attempts)} credential faults -> UNAUTHENTICATED")


def test_gateway_refuses_every_routed_method_without_a_valid_bearer(suite):
    """Through the gateway, every backend method needs a bearer token; the backends are up, so a
    call that slipped through would be answered by them (and not be UNAUTHENTICATED)."""
    start(suite, "gateway")
    for backend in BACKENDS:
        start(suite, backend)
    channel = suite.channel("gateway")
    wrong, count = [], 0
    for backend in BACKENDS:
        for method in methods_of(backend):
            if method.service == "crm.events.v1.EventSink":
                continue  # not routed (service to service only): UNIMPLEMENTED or UNAUTHENTICATED
            for what, metadata in {"no bearer": (), "wrong bearer": (("authorization", "Bearer nope"),),
                                   "service identity headers instead": identity("u1", "admin", "hq")}.items():
                code, details = status_of(lambda: raw_call(channel, method, empty_payloads(method), metadata))
                count += 1
                if code != UNAUTH:
                    wrong.append(f"{method} via gateway with {what}: {code.name} {details!r}")
    assert not wrong, f"{len(wrong)} of {count} routed calls were not UNAUTHENTICATED:\n" + "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# Another team's identity
# ---------------------------------------------------------------------------------------------

def leaked_ids(method: Method, bodies: list[bytes], secrets: list[str]) -> list[str]:
    """team-a ids found in an answer, ignoring `missing_ids` (where a batch read echoes what it
    could not show, which reveals nothing the caller did not send)."""
    found = set()
    for body in bodies:
        message = method.output.FromString(body)
        if "missing_ids" in message.DESCRIPTOR.fields_by_name:
            message.ClearField("missing_ids")
        encoded = message.SerializeToString()
        found |= {s for s in secrets if s.encode() in encoded}
    return sorted(found)


def cross_team_outcomes(suite, process):
    """(method, who, code, details, leaked ids) for every method aimed at team-a's records by a rep
    and a manager of team-b."""
    from leads_support import lead_input
    start(suite, "gateway")
    import_directory(suite.channel("gateway"), ADMIN_TOKEN, suite.clock.now_ms)
    start(suite, process)
    channel = suite.channel(process)
    ids = SEEDERS[process](channel, suite.clock.now_ms)
    secrets = [str(ids[k]) for k in OWN_RECORDS[process]]
    rows = []
    for method in methods_of(process):
        if method.service == "crm.events.v1.EventSink":
            continue  # service to service: covered by the credential tests
        for who, metadata in (("rep", REP_B), ("manager", MANAGER_B)):
            message = aimed_request(method, ids)
            complete(message, method.name, suite.clock.now_ms, lead_input=lead_input())
            request = message.SerializeToString()
            payloads = [request, request] if method.client_streaming else [request]
            answer: list[bytes] = []
            code, details = status_of(lambda: answer.extend(raw_call(channel, method, payloads, metadata)))
            rows.append((method.name, who, code, details, leaked_ids(method, answer, secrets) if code == OK else []))
    return rows


# What a rep and a manager of team-b get when they aim a method at team-a's records (ids, version,
# owner and team filled in, plus whatever else input validation asks for):
HIDDEN = "hidden"    # NOT_FOUND, PERMISSION_DENIED, or OK with none of team-a's records in the answer
REFUSED = "refused"  # NOT_FOUND or PERMISSION_DENIED: the write does not happen
DENIED = "denied"    # PERMISSION_DENIED exactly (admin-only operations)
ALLOWED = "allowed"  # OK: company-wide settings or manager actions that touch no team-a record
ACCEPTS = {HIDDEN: {NOT_FOUND, DENIED_CODE, OK}, REFUSED: {NOT_FOUND, DENIED_CODE}, DENIED: {DENIED_CODE},
           ALLOWED: {OK}}
ADMIN_ONLY = {"UpdateSettings", "RunSweep", "FitModel", "ExportLeads", "ImportLeads", "ExportCustomers",
              "ImportCustomers", "ExportOpportunities", "ImportOpportunities", "ImportTickets", "ExportForecastData",
              "ImportForecastData", "ExportDirectory", "ImportDirectory"}
READS = ("Get", "List", "BatchGet", "Find", "Export", "SourceReport", "SlaReport", "WhoAmI", "CustomerOverview",
         "MyDay", "PipelineReview")
# Per-method exceptions to the default (reads HIDDEN, admin-only DENIED, every other write REFUSED).
OVERRIDES = {
    ("leads", "CreateLeads"): (ALLOWED, ALLOWED),        # an empty batch names no record
    ("leads", "BulkCreateLeads"): (ALLOWED, ALLOWED),
    ("leads", "RecordSourceSpend"): (DENIED, ALLOWED),    # marketing spend is company-wide (manager/admin)
    ("leads", "SetAssignmentRules"): (DENIED, ALLOWED),   # company-wide routing rules (proto: manager/admin)
    ("forecast", "TakeSnapshot"): (DENIED, ALLOWED),      # manager actions over what they may see
    ("forecast", "Recompute"): (DENIED, ALLOWED),
}
# Known departures from SUITE.md, reported to the owning service (see the issue 10 report). The test
# requires them to still happen, so fixing one fails here with a reminder to drop it from this list.
KNOWN_GAPS = {
    # A manager of team-b may create a lead / ticket owned by owner-a of team-a (crm-customers and
    # crm-opportunities refuse the same with PERMISSION_DENIED "a manager assigns within team ...").
    ("leads", "CreateLead", "manager"),
    ("tickets", "CreateTicket", "manager"),
}


def expectation(process: str, method: str, who: str) -> str:
    if (process, method) in OVERRIDES:
        return OVERRIDES[(process, method)][0 if who == "rep" else 1]
    if method in ADMIN_ONLY:
        return DENIED
    if method.startswith(READS):
        return HIDDEN
    return REFUSED


@pytest.mark.parametrize("process", BACKENDS)
def test_another_teams_identity_sees_and_changes_nothing_of_team_a(suite, process):
    rows = cross_team_outcomes(suite, process)
    wrong, gaps_fixed = [], []
    for name, who, code, details, leaked in rows:
        expected = expectation(process, name, who)
        conforms = code in ACCEPTS[expected] and not leaked
        if (process, name, who) in KNOWN_GAPS:
            if conforms:
                gaps_fixed.append(f"{name} as {who}: now {code.name}; remove it from KNOWN_GAPS")
            continue
        if not conforms:
            wrong.append(f"{name} as team-b {who}: {code.name} {details[:120]!r}"
                         f"{f' leaking {leaked}' if leaked else ''} (expected {expected})")
    assert not wrong, f"{process}: {len(wrong)} of {len(rows)} cross-team calls broke SUITE.md:\n" + "\n".join(wrong)
    assert not gaps_fixed, "\n".join(gaps_fixed)
    print(f"\n{process}: {len(rows)} cross-team calls (rep and manager of team-b) as SUITE.md says")


# The gateway's own methods for team-b's rep and manager (bearer tokens), aimed at owner-a, team-a and
# a customer of team-a. Directory reads are open to every signed-in user (the directory is not secret);
# everything that changes the directory or tokens, or exports it, is admin-only; combined views about
# someone else's day or another team's pipeline are refused, and about another team's customer hidden.
GATEWAY_EXPECTED = {
    "CustomerOverview": (HIDDEN, HIDDEN), "MyDay": (DENIED, DENIED), "PipelineReview": (DENIED, DENIED),
    "GetUser": (ALLOWED, ALLOWED), "ListUsers": (ALLOWED, ALLOWED), "ListTeams": (ALLOWED, ALLOWED),
    "WhoAmI": (ALLOWED, ALLOWED), "ListBackends": (HIDDEN, HIDDEN),
    "RevokeToken": (REFUSED, REFUSED),  # someone else's token: refused (or not even visible)
}


def test_gateway_methods_for_another_teams_people(suite):
    from crm.gateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc
    start(suite, "gateway")
    import_directory(suite.channel("gateway"), ADMIN_TOKEN, suite.clock.now_ms)
    for backend in BACKENDS:
        start(suite, backend)
    customer = SEEDERS["customers"](suite.channel("customers"), suite.clock.now_ms)
    stub = gateway_pb2_grpc.GatewayServiceStub(suite.channel("gateway"))
    admin = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    tokens = {who: stub.IssueToken(pb.IssueTokenRequest(request_id=f"t-{who}", user_id=f"{who}-b", name="auth"),
                                   metadata=admin, timeout=10).token for who in ("rep", "manager")}
    owners_token = stub.IssueToken(pb.IssueTokenRequest(request_id="t-owner", user_id="owner-a", name="auth"),
                                   metadata=admin, timeout=10).info.id
    ids = {"user_id": "owner-a", "team_id": "team-a", "manager_id": "manager-a", "customer_id": customer["customer_id"],
           "token_id": owners_token, "version": 1}
    channel = suite.channel("gateway")
    wrong, count = [], 0
    for method in methods_of("gateway"):
        for who in ("rep", "manager"):
            message = aimed_request(method, ids)
            if method.name == "CreateUser":
                message.name, message.email, message.role = "Mallory", "mallory@example.com", pb.ROLE_ADMIN
            if method.name == "CreateTeam":
                message.name = "Team Mallory"
            request = message.SerializeToString()
            payloads = [request, request] if method.client_streaming else [request]
            answer: list[bytes] = []
            metadata = (("authorization", f"Bearer {tokens[who]}"),)
            code, details = status_of(lambda: answer.extend(raw_call(channel, method, payloads, metadata)))
            pair = GATEWAY_EXPECTED.get(method.name, (DENIED, DENIED))
            expected = pair[0 if who == "rep" else 1]
            leaked = leaked_ids(method, answer, [customer["customer_id"]]) if code == OK else []
            count += 1
            if code not in ACCEPTS[expected] or leaked:
                wrong.append(f"{method.name} as team-b {who}: {code.name} {details[:120]!r}"
                             f"{f' leaking {leaked}' if leaked else ''} (expected {expected})")
    assert not wrong, f"gateway: {len(wrong)} of {count} calls broke SUITE.md:\n" + "\n".join(wrong)
