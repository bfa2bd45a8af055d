"""crm-leads pool and assignment against the real user directory (crm-gateway ListUsers): ordered rules,
round-robin fairness, skipping deactivated and out-of-office reps, capacity, manager reassignment, and
what happens while the directory is unreachable."""

from __future__ import annotations

import collections

import grpc
import pytest

from leads_support import (
    HOUR_MS, START_MS, TIMEOUT_S, admin, assert_status, create, get, identity, lead_input, leads_stub, pb,
    quiet_sweeps, rpc_error, start_leads,
)

ADMIN_TOKEN = "leads-test-admin-token"
BOOTSTRAP = (("authorization", f"Bearer {ADMIN_TOKEN}"),)


def gw():
    from crm.gateway.v1 import gateway_pb2
    return gateway_pb2


class Directory:
    """Users and teams created through the real crm-gateway with the bootstrap admin token."""

    def __init__(self, suite):
        from crm.gateway.v1 import gateway_pb2_grpc
        suite.start("gateway", "--admin-token", ADMIN_TOKEN)
        self.stub = gateway_pb2_grpc.GatewayServiceStub(suite.channel("gateway"))

    def team(self, name):
        return self.stub.CreateTeam(gw().CreateTeamRequest(request_id=f"team-{name}", name=name),
                                    metadata=BOOTSTRAP, timeout=TIMEOUT_S).team

    def user(self, name, team_id, role=None, capacity=0):
        return self.stub.CreateUser(gw().CreateUserRequest(
            request_id=f"user-{name}", name=name, email=f"{name}@crm.example", role=role or gw().ROLE_REP,
            team_id=team_id, lead_capacity=capacity), metadata=BOOTSTRAP, timeout=TIMEOUT_S).user

    def out_of_office(self, user):
        return self.stub.UpdateUser(gw().UpdateUserRequest(user_id=user.id, version=user.version, out_of_office=True),
                                    metadata=BOOTSTRAP, timeout=TIMEOUT_S).user

    def deactivate(self, user):
        return self.stub.DeactivateUser(gw().DeactivateUserRequest(user_id=user.id, version=user.version, reason="left"),
                                        metadata=BOOTSTRAP, timeout=TIMEOUT_S).user


def who(user):
    role = {gw().ROLE_REP: "rep", gw().ROLE_MANAGER: "manager", gw().ROLE_ADMIN: "admin"}[user.role]
    return identity(user.id, role, user.team_id)


def set_rules(leads, *rules):
    current = leads.ListAssignmentRules(pb().ListAssignmentRulesRequest(include_disabled=True), metadata=admin(),
                                        timeout=TIMEOUT_S)
    return leads.SetAssignmentRules(pb().SetAssignmentRulesRequest(version=current.version, rules=list(rules)),
                                    metadata=admin(), timeout=TIMEOUT_S)


@pytest.fixture
def world(suite):
    directory = Directory(suite)
    start_leads(suite)
    leads = leads_stub(suite)
    quiet_sweeps(leads)
    north = directory.team("north")
    south = directory.team("south")
    reps = {name: directory.user(name, north.id) for name in ("ann", "ben", "cat", "dan", "eve")}
    reps["cat"] = directory.stub.UpdateUser(gw().UpdateUserRequest(
        user_id=reps["cat"].id, version=reps["cat"].version, lead_capacity=2), metadata=BOOTSTRAP, timeout=TIMEOUT_S).user
    reps["dan"] = directory.out_of_office(reps["dan"])
    reps["eve"] = directory.deactivate(reps["eve"])
    manager = directory.user("mona", north.id, role=gw().ROLE_MANAGER)
    stranger = directory.user("sam", south.id)
    return dict(leads=leads, directory=directory, north=north, south=south, reps=reps, manager=manager,
                stranger=stranger)


def test_rules_round_robin_fairly_skipping_unavailable_reps(world):
    leads, reps, north = world["leads"], world["reps"], world["north"]
    # Rule validation names each bad field.
    error = rpc_error(set_rules, leads, pb().AssignmentRule(name="", strategy=pb().ASSIGNMENT_STRATEGY_ROUND_ROBIN))
    assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, "rules[0].name: required", "rules[0].team_id")
    assert rpc_error(leads.SetAssignmentRules, pb().SetAssignmentRulesRequest(version=1), metadata=who(reps["ann"]),
                     timeout=TIMEOUT_S).code() == grpc.StatusCode.PERMISSION_DENIED
    rules = set_rules(
        leads,
        pb().AssignmentRule(name="ads stay in the pool", enabled=True, sources=[pb().LEAD_SOURCE_ADVERTISING],
                            strategy=pb().ASSIGNMENT_STRATEGY_POOL),
        pb().AssignmentRule(name="north round robin", enabled=True, regions=["north"],
                            strategy=pb().ASSIGNMENT_STRATEGY_ROUND_ROBIN, team_id=north.id),
    )
    assert rules.version == 2 and all(r.id for r in rules.rules)
    # Stale version: ABORTED naming the current one.
    assert_status(rpc_error(leads.SetAssignmentRules, pb().SetAssignmentRulesRequest(version=1), metadata=admin(),
                            timeout=TIMEOUT_S), grpc.StatusCode.ABORTED, "version 2")

    owners = []
    for _ in range(8):
        created = create(leads, admin(), lead_input(region="North"))
        assert created.assignment.kind == pb().ASSIGNMENT_KIND_ASSIGNED_BY_RULE
        assert created.assignment.rule_id == rules.rules[1].id
        assert created.lead.team_id == north.id
        assert created.lead.activation_deadline_ms == START_MS + 24 * HOUR_MS
        owners.append(created.lead.owner_id)
    counts = collections.Counter(owners)
    # ann and ben alternate with cat until cat reaches capacity 2; dan (out of office) and eve
    # (deactivated) get nothing.
    assert counts == {reps["ann"].id: 3, reps["ben"].id: 3, reps["cat"].id: 2}
    assert all(owners[i] != owners[i + 1] for i in range(len(owners) - 1))
    # First matching rule wins; unmatched leads stay in the pool, with the reason recorded.
    ad = create(leads, admin(), lead_input(region="North", source=pb().LEAD_SOURCE_ADVERTISING))
    assert ad.lead.status == pb().LEAD_STATUS_POOL and "ads stay in the pool" in ad.assignment.reason
    elsewhere = create(leads, admin(), lead_input(region="South"))
    assert elsewhere.lead.status == pb().LEAD_STATUS_POOL and "no assignment rule matched" in elsewhere.assignment.reason
    # Bulk intake routes the same way, row by row.
    bulk = leads.CreateLeads(pb().CreateLeadsRequest(rows=[
        pb().LeadIntakeRow(row_number=i, lead=lead_input(region="north")) for i in range(4)]),
        metadata=admin(), timeout=TIMEOUT_S)
    bulk_owners = collections.Counter(r.owner_id for r in bulk.results)
    assert bulk_owners == {reps["ann"].id: 2, reps["ben"].id: 2}


def test_least_loaded_and_manager_reassignment(suite, world):
    leads, reps, manager, stranger = world["leads"], world["reps"], world["manager"], world["stranger"]
    set_rules(leads, pb().AssignmentRule(name="least loaded", enabled=True, strategy=pb().ASSIGNMENT_STRATEGY_LEAST_LOADED,
                                         user_ids=[reps["ann"].id, reps["ben"].id]))
    a = create(leads, admin()).lead
    b = create(leads, admin()).lead
    assert {a.owner_id, b.owner_id} == {reps["ann"].id, reps["ben"].id}

    lead = create(leads, who(manager), routing=pb().INTAKE_ROUTING_POOL).lead
    assert lead.status == pb().LEAD_STATUS_POOL

    def assign(owner_id, version, caller=who(manager)):
        return leads.AssignLead(pb().AssignLeadRequest(lead_id=lead.id, version=version, owner_id=owner_id,
                                                       reason="knows the customer"), metadata=caller, timeout=TIMEOUT_S)

    assert_status(rpc_error(assign, reps["dan"].id, lead.version), grpc.StatusCode.FAILED_PRECONDITION, "out of office")
    assert_status(rpc_error(assign, reps["eve"].id, lead.version), grpc.StatusCode.FAILED_PRECONDITION, "deactivated")
    assert_status(rpc_error(assign, "nobody", lead.version), grpc.StatusCode.INVALID_ARGUMENT, "owner_id")
    assert rpc_error(assign, stranger.id, lead.version).code() == grpc.StatusCode.PERMISSION_DENIED
    # A manager may exceed a rep's capacity (cat: 2).
    for _ in range(2):
        create(leads, who(manager), routing=pb().INTAKE_ROUTING_OWNER, owner_id=reps["cat"].id)
    given = assign(reps["cat"].id, lead.version)
    assert given.lead.owner_id == reps["cat"].id and given.lead.team_id == world["north"].id
    assert given.assignment.kind == pb().ASSIGNMENT_KIND_ASSIGNED_BY_MANAGER
    assert given.assignment.actor_id == manager.id and given.assignment.reason == "knows the customer"
    # Reassignment restarts the R2 clock.
    suite.clock.advance(hours=5)
    moved = assign(reps["ann"].id, given.lead.version)
    assert moved.assignment.from_owner_id == reps["cat"].id
    assert moved.lead.activation_deadline_ms == given.lead.activation_deadline_ms + 5 * HOUR_MS
    assert_status(rpc_error(assign, reps["ben"].id, given.lead.version), grpc.StatusCode.ABORTED,
                  f"version {moved.lead.version}")
    # The other team's manager cannot see it at all.
    other_manager = world["directory"].user("olga", world["south"].id, role=gw().ROLE_MANAGER)
    assert rpc_error(get, leads, who(other_manager), lead.id).code() == grpc.StatusCode.NOT_FOUND
    # Routing through the rules from AssignLead.
    by_rules = leads.AssignLead(pb().AssignLeadRequest(lead_id=lead.id, version=moved.lead.version, by_rules=True),
                                metadata=who(manager), timeout=TIMEOUT_S)
    assert by_rules.assignment.kind == pb().ASSIGNMENT_KIND_ASSIGNED_BY_RULE


def test_directory_down_keeps_intake_working(suite, world):
    leads, reps, north = world["leads"], world["reps"], world["north"]
    set_rules(leads, pb().AssignmentRule(name="north rr", enabled=True, strategy=pb().ASSIGNMENT_STRATEGY_ROUND_ROBIN,
                                         team_id=north.id))
    suite.stop("gateway")
    created = create(leads, admin())
    assert created.lead.status == pb().LEAD_STATUS_POOL
    assert "directory" in created.assignment.reason
    error = rpc_error(leads.AssignLead, pb().AssignLeadRequest(lead_id=created.lead.id, version=created.lead.version,
                                                               owner_id=reps["ann"].id), metadata=admin(), timeout=TIMEOUT_S)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    # Claiming needs no directory.
    claimed = leads.ClaimLead(pb().ClaimLeadRequest(lead_id=created.lead.id), metadata=who(reps["ann"]), timeout=TIMEOUT_S)
    assert claimed.lead.owner_id == reps["ann"].id
