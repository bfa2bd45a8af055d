"""crm-customers (issue 3) against the real executable over gRPC with stock grpcio stubs:
create/get/update/list/archive, the duplicate guard, idempotency, visibility, optimistic versions,
lifecycle transitions, ownership, key customers, contacts, settings, and hostile input.

Events, the timeline, the focus list, the churn sweep and outbox delivery are in
test_customers_events.py; the million-row figures in test_customers_scale.py."""

from __future__ import annotations

import random
import threading

import grpc
import pytest

from customers_support import Customers, restart_customers, start_customers, unique
from suite import DAY_MS, identity

U1, U2, U3 = "u1", "u2", "u3"


@pytest.fixture
def crm(suite) -> Customers:
    return start_customers(suite)


def codes(crm):
    return crm.pb


# --------------------------------------------------------------------------------------------
# Create, get, persist
# --------------------------------------------------------------------------------------------


def test_create_get_and_survive_restart(crm):
    pb = crm.pb
    created = crm.create(
        crm.rep(U1), "Northwind Traders", industry="Retail", region="EU-West", size=pb.COMPANY_SIZE_MEDIUM,
        tags=["wholesale", "food"], phone="+49 30 1234567", email="Info@Northwind.example", grade=pb.CUSTOMER_GRADE_B,
        contacts=[pb.ContactInput(name="Anna Berg", role=pb.CONTACT_ROLE_DECISION_MAKER, email="anna@northwind.example",
                                  key_person=True)])
    c = created.customer
    assert c.id.startswith("cus_") and c.version == 1 and not created.replayed
    assert c.owner_id == U1 and c.team_id == "team-a" and c.created_by == U1
    assert c.lifecycle_status == pb.LIFECYCLE_STATUS_NEW
    assert c.grade == pb.CUSTOMER_GRADE_B and not c.key
    assert c.phone == "+49301234567" and c.email == "info@northwind.example"  # normalised
    assert list(c.tags) == ["wholesale", "food"]
    assert c.created_at_ms == crm.suite.clock.now_ms == c.last_activity_at_ms
    assert len(created.contacts) == 1 and created.contacts[0].key_person
    assert created.contacts[0].customer_id == c.id

    got = crm.call("GetCustomer", pb.GetCustomerRequest(customer_id=c.id), crm.rep(U1))
    assert got.customer == c
    assert got.next_action.kind == pb.NEXT_ACTION_KIND_MAKE_CONTACT
    assert set(got.allowed_transitions) == {pb.LIFECYCLE_STATUS_INTERESTED, pb.LIFECYCLE_STATUS_FOLLOWING_UP,
                                            pb.LIFECYCLE_STATUS_CHURNED}

    from grpc.health.v1 import health_pb2, health_pb2_grpc
    health = health_pb2_grpc.HealthStub(crm.suite.channel("customers"))
    for service in ("", "crm.customers.v1.CustomerService", "crm.events.v1.EventSink"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status  # no token needed
        assert status == health_pb2.HealthCheckResponse.SERVING, service

    restart_customers(crm)
    assert crm.get(c.id, crm.rep(U1)) == c
    contacts = crm.call("ListContacts", pb.ListContactsRequest(customer_id=c.id), crm.rep(U1)).contacts
    assert [k.name for k in contacts] == ["Anna Berg"]


def test_validation_names_every_bad_field(crm):
    pb = crm.pb
    err = crm.error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="r-invalid",
        customer=pb.CustomerInput(name="  ", phone="call me maybe", email="not-an-email", grade=pb.CUSTOMER_GRADE_KEY,
                                  size=42, tags=["ok", ""]),
        contacts=[pb.ContactInput(name="No Way To Reach"), pb.ContactInput(name="Bad", phone="12")],
        force=True), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = err.details()
    for field in ("customer.name: required", "customer.phone: not a phone number", "customer.email: not an email",
                  "customer.grade: KEY is set only through MarkKey", "customer.size: unknown value 42",
                  "customer.tags[1]: required", "contacts[0].phone", "contacts[0].email",
                  "contacts[1].phone: not a phone number", "force_reason: required"):
        assert field in message, (field, message)
    # Nothing was written.
    assert crm.call("ListCustomers", pb.ListCustomersRequest(), crm.admin()).customers == []

    err = crm.error("UpdateCustomer", pb.UpdateCustomerRequest(customer_id="", version=0, name="", phone="x"),
                    crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("customer_id: required", "version: required", "name: required", "phone: not a phone number"):
        assert field in err.details()


def test_ids_with_whitespace_or_control_characters_are_refused_by_name(crm):
    pb = crm.pb
    for bad in ("cus 1", "cus\t1", "cus\u00a01", "cus\u20281", "cus\u00851", "cus\x7f1"):
        err = crm.error("GetCustomer", pb.GetCustomerRequest(customer_id=bad), crm.admin())
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, repr(bad)
        assert "customer_id: must not contain whitespace or control characters" in err.details(), repr(bad)
    # Non-ASCII letters are not whitespace: such an id is merely unknown.
    err = crm.error("GetCustomer", pb.GetCustomerRequest(customer_id="cus-é1"), crm.admin())
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_create_is_idempotent_by_request_id_and_lead_id(crm):
    pb = crm.pb
    request = pb.CreateCustomerRequest(request_id="req-once", customer=pb.CustomerInput(name="Once Ltd"),
                                       contacts=[pb.ContactInput(name="Ola", phone="+4712345678")])
    first = crm.call("CreateCustomer", request, crm.rep(U1))
    again = crm.call("CreateCustomer", request, crm.rep(U1))
    assert again.replayed and not first.replayed
    assert again.customer == first.customer and list(again.contacts) == list(first.contacts)
    # The key reused for a different request is refused, not silently replayed.
    other = pb.CreateCustomerRequest(request_id="req-once", customer=pb.CustomerInput(name="Twice Ltd"))
    assert crm.error("CreateCustomer", other, crm.rep(U1)).code() == grpc.StatusCode.FAILED_PRECONDITION

    # Conversion from a lead: a second create with the same lead id returns the first customer.
    lead_first = crm.call("CreateCustomer", pb.CreateCustomerRequest(
        request_id="conv-1", lead_id="lead_42", customer=pb.CustomerInput(name="From Lead GmbH")), crm.rep(U1))
    lead_again = crm.call("CreateCustomer", pb.CreateCustomerRequest(
        request_id="conv-2", lead_id="lead_42", customer=pb.CustomerInput(name="From Lead GmbH")), crm.rep(U1))
    assert lead_again.replayed and lead_again.customer.id == lead_first.customer.id
    assert lead_first.customer.lead_id == "lead_42"

    restart_customers(crm)
    assert crm.call("CreateCustomer", request, crm.rep(U1)).customer.id == first.customer.id
    names = sorted(c.name for c in crm.call("ListCustomers", pb.ListCustomersRequest(), crm.admin()).customers)
    assert names == ["From Lead GmbH", "Once Ltd"]


# --------------------------------------------------------------------------------------------
# Duplicate guard
# --------------------------------------------------------------------------------------------


def test_duplicate_guard_on_name_phone_and_email(crm):
    pb = crm.pb
    acme = crm.create(crm.rep(U1), "ACME, Inc.", phone="+1 (555) 010-0000",
                      contacts=[pb.ContactInput(name="Road Runner", email="beep@acme.example")]).customer

    # Normalised name: case, punctuation and the legal form do not make a new company.
    err = crm.error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="dup-1", customer=pb.CustomerInput(name="acme inc")), crm.rep(U2))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert acme.id in err.details() and "name" in err.details() and "force" in err.details()

    # A contact's email, and the company phone in another format.
    err = crm.error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="dup-2", customer=pb.CustomerInput(name="Totally Different"),
        contacts=[pb.ContactInput(name="X", email="BEEP@acme.example")]), crm.rep(U2))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and acme.id in err.details() and "email" in err.details()
    err = crm.error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="dup-3", customer=pb.CustomerInput(name="Other Name", phone="+15550100000")), crm.rep(U2))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and "+15550100000" in err.details()

    found = crm.call("FindDuplicates", pb.FindDuplicatesRequest(name="Acme Ltd", email="beep@acme.example"),
                     crm.rep(U2)).matches
    assert {(m.customer_id, m.field) for m in found} == {(acme.id, pb.DUPLICATE_FIELD_NAME),
                                                         (acme.id, pb.DUPLICATE_FIELD_EMAIL)}

    # force needs a reason; with one it creates, names what it overrode, and the audit trail says why.
    err = crm.error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="dup-4", customer=pb.CustomerInput(name="Acme"), force=True), crm.rep(U2))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "force_reason" in err.details()
    forced = crm.call("CreateCustomer", pb.CreateCustomerRequest(
        request_id="dup-5", customer=pb.CustomerInput(name="Acme"), force=True,
        force_reason="separate legal entity in Canada"), crm.rep(U2))
    assert [m.customer_id for m in forced.overridden_duplicates] == [acme.id]
    created_entry = crm.timeline(forced.customer.id, crm.rep(U2))[-1]
    assert created_entry.kind == pb.TIMELINE_ENTRY_KIND_CREATED and "separate legal entity" in created_entry.summary

    # Renaming into a duplicate is guarded too.
    other = crm.create(crm.rep(U1), "Globex").customer
    err = crm.error("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=other.id, version=1, name="A.C.M.E. Inc"),
                    crm.rep(U1))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and acme.id in err.details()
    assert crm.get(other.id, crm.rep(U1)).version == 1


# --------------------------------------------------------------------------------------------
# Visibility and permissions
# --------------------------------------------------------------------------------------------


def test_visibility_rep_manager_admin_and_collaborators(crm):
    pb = crm.pb
    mine = crm.create(crm.rep(U1), "Visible Only To U1").customer

    # Another rep: NOT_FOUND exactly like a customer that does not exist.
    hidden = crm.error("GetCustomer", pb.GetCustomerRequest(customer_id=mine.id), crm.rep(U2))
    missing = crm.error("GetCustomer", pb.GetCustomerRequest(customer_id="cus_doesnotexist"), crm.rep(U2))
    assert hidden.code() == missing.code() == grpc.StatusCode.NOT_FOUND
    assert hidden.details().replace(mine.id, "ID") == missing.details().replace("cus_doesnotexist", "ID")
    for method, request in [
        ("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=mine.id, version=1, notes="x")),
        ("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=mine.id, version=1,
                                                      to_status=pb.LIFECYCLE_STATUS_INTERESTED)),
        ("ListTimeline", pb.ListTimelineRequest(customer_id=mine.id)),
        ("ListContacts", pb.ListContactsRequest(customer_id=mine.id)),
        ("AddContact", pb.AddContactRequest(customer_id=mine.id, contact=pb.ContactInput(name="Z", phone="+4912345678"))),
    ]:
        assert crm.error(method, request, crm.rep(U2)).code() == grpc.StatusCode.NOT_FOUND, method
    assert crm.call("ListCustomers", pb.ListCustomersRequest(), crm.rep(U2)).customers == []
    batch = crm.call("BatchGetCustomers", pb.BatchGetCustomersRequest(customer_ids=[mine.id, "cus_nope"]), crm.rep(U2))
    assert list(batch.missing_ids) == [mine.id, "cus_nope"] and not batch.customers

    # The manager of the team sees it; a manager of another team does not; an admin does.
    assert crm.get(mine.id, crm.manager("m-a", "team-a")).id == mine.id
    assert crm.error("GetCustomer", pb.GetCustomerRequest(customer_id=mine.id),
                     crm.manager("m-b", "team-b")).code() == grpc.StatusCode.NOT_FOUND
    assert crm.get(mine.id, crm.admin()).id == mine.id
    assert [c.id for c in crm.call("ListCustomers", pb.ListCustomersRequest(), crm.manager("m-a")).customers] == [mine.id]
    assert crm.call("ListCustomers", pb.ListCustomersRequest(), crm.manager("m-b", "team-b")).customers == []

    # A collaborator sees it, may work it, but may not reassign it or manage collaborators.
    added = crm.call("AddCollaborator", pb.AddCollaboratorRequest(customer_id=mine.id, version=1, user_id=U2),
                     crm.rep(U1)).customer
    assert list(added.collaborator_ids) == [U2] and added.version == 2
    assert crm.get(mine.id, crm.rep(U2)).id == mine.id
    assert [c.id for c in crm.call("ListCustomers", pb.ListCustomersRequest(), crm.rep(U2)).customers] == [mine.id]
    updated = crm.call("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=mine.id, version=2, notes="met at fair"),
                       crm.rep(U2)).customer
    assert updated.notes == "met at fair" and updated.version == 3
    err = crm.error("AddCollaborator", pb.AddCollaboratorRequest(customer_id=mine.id, version=3, user_id=U3),
                    crm.rep(U2))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = crm.error("ReassignOwner", pb.ReassignOwnerRequest(customer_id=mine.id, version=3, new_owner_id=U2),
                    crm.rep(U1))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = crm.error("MarkKey", pb.MarkKeyRequest(customer_id=mine.id, version=3, key=True, reason="big"), crm.rep(U2))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # A rep cannot create customers for somebody else.
    err = crm.error("CreateCustomer", pb.CreateCustomerRequest(
        request_id="for-other", customer=pb.CustomerInput(name="Not Mine To Give"), owner_id=U3), crm.rep(U1))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # A manager of another team who collaborates sees and works it, but does not manage it.
    v = crm.call("AddCollaborator", pb.AddCollaboratorRequest(customer_id=mine.id, version=3, user_id="m-b"),
                 crm.rep(U1)).customer.version
    assert crm.get(mine.id, crm.manager("m-b", "team-b")).id == mine.id
    for method, request in [
        ("ReassignOwner", pb.ReassignOwnerRequest(customer_id=mine.id, version=v, new_owner_id=U3)),
        ("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=mine.id, version=v, reason="not theirs")),
        ("MarkKey", pb.MarkKeyRequest(customer_id=mine.id, version=v, key=True, reason="not theirs")),
    ]:
        assert crm.error(method, request, crm.manager("m-b", "team-b")).code() == grpc.StatusCode.PERMISSION_DENIED, method
    v = crm.call("RemoveCollaborator", pb.RemoveCollaboratorRequest(customer_id=mine.id, version=v, user_id="m-b"),
                 crm.manager("m-a")).customer.version
    # Removing the collaborator takes the visibility away again.
    crm.call("RemoveCollaborator", pb.RemoveCollaboratorRequest(customer_id=mine.id, version=v, user_id=U2),
             crm.rep(U1))
    assert crm.error("GetCustomer", pb.GetCustomerRequest(customer_id=mine.id),
                     crm.rep(U2)).code() == grpc.StatusCode.NOT_FOUND


def test_calls_without_the_service_token_or_with_a_bad_identity_are_unauthenticated(crm):
    pb = crm.pb
    request = pb.GetCustomerRequest(customer_id="cus_x")
    for md in [(), identity(U1, token="wrong"), (("x-crm-service-token", "test-service-token"),
                                                    ("x-crm-user", U1), ("x-crm-role", "boss"))]:
        with pytest.raises(grpc.RpcError) as info:
            crm.stub.GetCustomer(request, metadata=md, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


# --------------------------------------------------------------------------------------------
# Versions, lifecycle, ownership, key customers
# --------------------------------------------------------------------------------------------


def test_stale_versions_are_aborted_naming_the_current_version(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Versioned AB").customer
    v2 = crm.call("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=1, region="Nordics"),
                  crm.rep(U1)).customer
    assert v2.version == 2 and v2.region == "Nordics"
    for method, request in [
        ("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=1, region="Baltics")),
        ("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=c.id, version=1,
                                                      to_status=pb.LIFECYCLE_STATUS_INTERESTED)),
        ("MarkKey", pb.MarkKeyRequest(customer_id=c.id, version=1, key=True, reason="strategic")),
        ("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=1, reason="gone")),
        ("AddCollaborator", pb.AddCollaboratorRequest(customer_id=c.id, version=1, user_id=U2)),
    ]:
        err = crm.error(method, request, crm.rep(U1))
        assert err.code() == grpc.StatusCode.ABORTED, method
        assert "version 2" in err.details(), err.details()
    assert crm.get(c.id, crm.rep(U1)) == v2

    # Two writers racing on the same version: exactly one wins.
    results = []

    def write(region):
        try:
            crm.call("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=2, region=region), crm.rep(U1))
            results.append("ok")
        except grpc.RpcError as e:
            results.append(e.code())

    threads = [threading.Thread(target=write, args=(f"R{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count(grpc.StatusCode.ABORTED) == 5
    assert crm.get(c.id, crm.rep(U1)).version == 3


def test_lifecycle_allows_only_line_2_moves_and_records_who_when_why(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Lifecycle Oy").customer

    err = crm.error("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=c.id, version=1,
                                                                 to_status=pb.LIFECYCLE_STATUS_WON), crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details().startswith("line 2:") and "NEW" in err.details() and "WON" in err.details()
    err = crm.error("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=c.id, version=1), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "to_status: required" in err.details()

    steps = [(pb.LIFECYCLE_STATUS_INTERESTED, "", pb.NEXT_ACTION_KIND_DIG_INTO_NEEDS),
             (pb.LIFECYCLE_STATUS_QUOTING, "", pb.NEXT_ACTION_KIND_MAP_DECISION_CHAIN),
             (pb.LIFECYCLE_STATUS_NEGOTIATING, "", pb.NEXT_ACTION_KIND_PROPOSAL_TRIAL_DEMO)]
    version = 1
    for to_status, reason, next_kind in steps:
        crm.suite.clock.advance(hours=1)
        r = crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=c.id, version=version,
                                                                  to_status=to_status, reason=reason), crm.rep(U1))
        version = r.customer.version
        assert r.customer.lifecycle_status == to_status and r.next_action.kind == next_kind
        assert r.transition.actor_id == U1 and r.transition.at_ms == crm.suite.clock.now_ms
        assert r.transition.trigger == pb.CHANGE_TRIGGER_MANUAL

    # Backward moves and CHURNED need a reason.
    err = crm.error("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=c.id, version=version,
                                                                 to_status=pb.LIFECYCLE_STATUS_FOLLOWING_UP), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in err.details()
    back = crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(
        customer_id=c.id, version=version, to_status=pb.LIFECYCLE_STATUS_FOLLOWING_UP,
        reason="budget frozen until Q3"), crm.rep(U1))
    churned = crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(
        customer_id=c.id, version=back.customer.version, to_status=pb.LIFECYCLE_STATUS_CHURNED,
        reason="bought from a competitor"), crm.rep(U1))
    assert churned.customer.churn_reason == "bought from a competitor"
    assert churned.next_action.kind == pb.NEXT_ACTION_KIND_WIN_BACK
    assert set(churned.allowed_transitions) == {pb.LIFECYCLE_STATUS_INTERESTED, pb.LIFECYCLE_STATUS_FOLLOWING_UP}
    err = crm.error("ChangeLifecycle", pb.ChangeLifecycleRequest(
        customer_id=c.id, version=churned.customer.version, to_status=pb.LIFECYCLE_STATUS_EXISTING,
        reason="?"), crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "line 2" in err.details()

    status_entries = crm.timeline(c.id, crm.rep(U1), kinds=[pb.TIMELINE_ENTRY_KIND_STATUS_CHANGED])
    assert [(e.from_status, e.to_status) for e in status_entries] == [
        (pb.LIFECYCLE_STATUS_FOLLOWING_UP, pb.LIFECYCLE_STATUS_CHURNED),
        (pb.LIFECYCLE_STATUS_NEGOTIATING, pb.LIFECYCLE_STATUS_FOLLOWING_UP),
        (pb.LIFECYCLE_STATUS_QUOTING, pb.LIFECYCLE_STATUS_NEGOTIATING),
        (pb.LIFECYCLE_STATUS_INTERESTED, pb.LIFECYCLE_STATUS_QUOTING),
        (pb.LIFECYCLE_STATUS_NEW, pb.LIFECYCLE_STATUS_INTERESTED)]  # newest first
    assert all(e.actor_id == U1 for e in status_entries)
    assert "budget frozen until Q3" in status_entries[1].summary


def test_reassign_owner_keeps_history_and_moves_visibility(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Asset Holding", contacts=[pb.ContactInput(name="Kim", phone="+4912345678")]).customer
    crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=c.id, version=1,
                                                          to_status=pb.LIFECYCLE_STATUS_INTERESTED), crm.rep(U1))
    before = crm.timeline(c.id, crm.rep(U1))

    err = crm.error("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=2, new_owner_id=U2),
                    crm.rep(U1))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    r = crm.call("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=2, new_owner_id=U2,
                                                          reason="U1 moved to another region"), crm.manager("m-a"))
    assert r.previous_owner_id == U1 and r.customer.owner_id == U2 and r.customer.version == 3
    assert r.customer.team_id == "team-a"  # directory unreachable: the manager's team

    # U1 lost visibility (not kept as collaborator); U2 sees everything, history included.
    assert crm.error("GetCustomer", pb.GetCustomerRequest(customer_id=c.id),
                     crm.rep(U1)).code() == grpc.StatusCode.NOT_FOUND
    after = crm.timeline(c.id, crm.rep(U2))
    assert after[1:] == before
    assert after[0].kind == pb.TIMELINE_ENTRY_KIND_OWNER_CHANGED
    assert (after[0].from_owner_id, after[0].to_owner_id, after[0].actor_id) == (U1, U2, "m-a")
    assert [k.name for k in crm.call("ListContacts", pb.ListContactsRequest(customer_id=c.id), crm.rep(U2)).contacts] == ["Kim"]

    # Keeping the previous owner as a collaborator.
    r = crm.call("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=3, new_owner_id=U3,
                                                          keep_previous_as_collaborator=True), crm.admin())
    assert r.customer.owner_id == U3 and list(r.customer.collaborator_ids) == [U2]
    assert crm.get(c.id, crm.rep(U2)).owner_id == U3
    err = crm.error("ReassignOwner", pb.ReassignOwnerRequest(customer_id=c.id, version=4, new_owner_id=U3),
                    crm.admin())
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_key_marks_need_a_reason_and_restore_the_grade(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Key Account AG", grade=pb.CUSTOMER_GRADE_A).customer
    err = crm.error("MarkKey", pb.MarkKeyRequest(customer_id=c.id, version=1, key=True), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason: required" in err.details()
    crm.suite.clock.advance(hours=2)
    marked = crm.call("MarkKey", pb.MarkKeyRequest(customer_id=c.id, version=1, key=True,
                                                   reason="top 10 revenue"), crm.rep(U1)).customer
    assert marked.key and marked.grade == pb.CUSTOMER_GRADE_KEY and marked.key_reason == "top 10 revenue"
    assert marked.key_marked_by == U1 and marked.key_marked_at_ms == crm.suite.clock.now_ms
    err = crm.error("MarkKey", pb.MarkKeyRequest(customer_id=c.id, version=2, key=True, reason="again"), crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and err.details().startswith("R7:")
    # Regrading a key customer is refused (R7); KEY cannot be set through UpdateCustomer.
    err = crm.error("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=2, grade=pb.CUSTOMER_GRADE_C),
                    crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and err.details().startswith("R7:")
    other = crm.create(crm.rep(U1), "Not Key Yet").customer
    err = crm.error("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=other.id, version=1,
                                                               grade=pb.CUSTOMER_GRADE_KEY), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "grade" in err.details()

    listed = crm.call("ListCustomers", pb.ListCustomersRequest(key=True), crm.rep(U1)).customers
    assert [x.id for x in listed] == [c.id]
    unmarked = crm.call("MarkKey", pb.MarkKeyRequest(customer_id=c.id, version=2, key=False,
                                                     reason="revenue dropped"), crm.rep(U1)).customer
    assert not unmarked.key and unmarked.grade == pb.CUSTOMER_GRADE_A
    kinds = [e.kind for e in crm.timeline(c.id, crm.rep(U1))]
    assert kinds[:2] == [pb.TIMELINE_ENTRY_KIND_KEY_UNMARKED, pb.TIMELINE_ENTRY_KIND_KEY_MARKED]


# --------------------------------------------------------------------------------------------
# Lists and pagination
# --------------------------------------------------------------------------------------------


def _all_pages(crm, md, page_size, between=None, **filters):
    seen, token, pages = [], "", 0
    while True:
        page = crm.call("ListCustomers", crm.pb.ListCustomersRequest(page_size=page_size, page_token=token, **filters), md)
        seen += list(page.customers)
        pages += 1
        token = page.next_page_token
        if between:
            between(pages)
        if not token:
            return seen


def test_list_filters(crm):
    pb = crm.pb
    a = crm.create(crm.rep(U1), "Alpha Tools", region="North", industry="Tools", tags=["vip", "metal"],
                   grade=pb.CUSTOMER_GRADE_A).customer
    crm.suite.clock.advance(ms=1)  # ids order within one millisecond is random; the list order is (created, id)
    b = crm.create(crm.rep(U1), "Beta Foods", region="South", industry="Food", tags=["metal"],
                   grade=pb.CUSTOMER_GRADE_B).customer
    crm.suite.clock.advance(ms=1)
    c = crm.create(crm.rep(U2), "Gamma Tools", region="North", industry="Tools", grade=pb.CUSTOMER_GRADE_A).customer
    crm.call("ChangeLifecycle", pb.ChangeLifecycleRequest(customer_id=b.id, version=1,
                                                          to_status=pb.LIFECYCLE_STATUS_INTERESTED), crm.rep(U1))
    admin = crm.admin()

    def ids(**filters):
        return [x.id for x in crm.call("ListCustomers", pb.ListCustomersRequest(**filters), admin).customers]

    assert ids() == [a.id, b.id, c.id]
    assert ids(owner_id=U1) == [a.id, b.id]
    assert ids(region="North") == [a.id, c.id]
    assert ids(industry="Food") == [b.id]
    assert ids(tag="metal") == [a.id, b.id]
    assert ids(grades=[pb.CUSTOMER_GRADE_A]) == [a.id, c.id]
    assert ids(statuses=[pb.LIFECYCLE_STATUS_INTERESTED]) == [b.id]
    assert ids(query="tools") == [a.id, c.id]       # substring, case-insensitive (trigram index)
    assert ids(query="eta") == [b.id]
    assert ids(query="ga") == [c.id]                # 1-2 characters: the name starts with it
    assert ids(query="mm") == []
    # The name index follows a rename, and an edit that keeps the name keeps it findable.
    crm.call("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=1, name="Gamma Hammers"), crm.rep(U2))
    assert ids(query="tools") == [a.id] and ids(query="hammers") == [c.id]
    crm.call("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=2, notes="renamed"), crm.rep(U2))
    assert ids(query="hammers") == [c.id]
    assert ids(region="North", owner_id=U2) == [c.id]
    assert ids(sort=pb.CUSTOMER_SORT_NAME, descending=True) == [c.id, b.id, a.id]
    assert ids(team_id="team-a", tag="vip") == [a.id]
    err = crm.error("ListCustomers", pb.ListCustomersRequest(grades=[9], statuses=[0], page_size=-1), admin)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("grades[0]", "statuses[0]", "page_size"):
        assert field in err.details()


@pytest.mark.parametrize("sort", ["CUSTOMER_SORT_CREATED_AT", "CUSTOMER_SORT_NAME"])
def test_pagination_is_stable_under_concurrent_inserts(crm, sort):
    pb = crm.pb
    originals = []
    for i in range(40):
        if i % 10 == 0:
            crm.suite.clock.advance(ms=5)
        originals.append(crm.create(crm.rep(U1), f"Original {i:02d} {random.random():.6f}").customer.id)
    stop = threading.Event()
    inserted = []

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            inserted.append(crm.create(crm.rep(U1), f"Concurrent {n} {random.random():.6f}").customer.id)

    t = threading.Thread(target=writer)
    t.start()
    try:
        sort_value = getattr(pb, sort)
        seen = _all_pages(crm, crm.rep(U1), 7, sort=sort_value)
    finally:
        stop.set()
        t.join()
    ids = [c.id for c in seen]
    assert len(ids) == len(set(ids)), "a row was returned twice"
    assert set(originals) <= set(ids), "a row present before the listing started was skipped"
    keys = [(c.created_at_ms, c.id) if sort == "CUSTOMER_SORT_CREATED_AT" else (c.name.lower(), c.id) for c in seen]
    assert keys == sorted(keys)
    assert inserted, "the concurrent writer made no inserts"
    # A token from one order is refused for another.
    token = crm.call("ListCustomers", pb.ListCustomersRequest(page_size=2), crm.rep(U1)).next_page_token
    err = crm.error("ListCustomers", pb.ListCustomersRequest(page_size=2, page_token=token, descending=True), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()


def test_manager_pages_merge_team_own_and_collaborations(crm):
    pb = crm.pb
    team = [crm.create(crm.rep(f"rep{i % 3}"), f"Team Customer {i}").customer.id for i in range(12)]
    other_team = crm.create(crm.rep("outsider", "team-b"), "Outside Customer").customer
    crm.call("AddCollaborator", pb.AddCollaboratorRequest(customer_id=other_team.id, version=1, user_id="m-a"),
             crm.rep("outsider", "team-b"))
    seen = [c.id for c in _all_pages(crm, crm.manager("m-a"), 5)]
    assert sorted(seen) == sorted(team + [other_team.id]) and len(seen) == len(set(seen))


# --------------------------------------------------------------------------------------------
# Contacts, archive, settings
# --------------------------------------------------------------------------------------------


def test_contacts_roles_key_persons_and_versions(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Contacts Inc").customer
    add = pb.AddContactRequest(request_id="contact-1", customer_id=c.id,
                               contact=pb.ContactInput(name="Zoe User", role=pb.CONTACT_ROLE_USER, phone="+33 1 23 45 67 89"))
    first = crm.call("AddContact", add, crm.rep(U1))
    assert crm.call("AddContact", add, crm.rep(U1)).replayed
    assert first.contact.phone == "+33123456789"
    boss = crm.call("AddContact", pb.AddContactRequest(
        customer_id=c.id, contact=pb.ContactInput(name="Adam Boss", role=pb.CONTACT_ROLE_DECISION_MAKER,
                                                  email="adam@contacts.example", key_person=True)), crm.rep(U1)).contact
    listed = crm.call("ListContacts", pb.ListContactsRequest(customer_id=c.id), crm.rep(U1)).contacts
    assert [k.name for k in listed] == ["Adam Boss", "Zoe User"]  # key persons first
    assert [k.name for k in crm.call("ListContacts", pb.ListContactsRequest(
        customer_id=c.id, roles=[pb.CONTACT_ROLE_USER]), crm.rep(U1)).contacts] == ["Zoe User"]

    err = crm.error("AddContact", pb.AddContactRequest(customer_id=c.id, contact=pb.ContactInput(
        name="", phone="abc", email="@")), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("contact.name: required", "contact.phone: not a phone number", "contact.email: not an email"):
        assert field in err.details()

    updated = crm.call("UpdateContact", pb.UpdateContactRequest(contact_id=boss.id, version=1, key_person=False,
                                                                job_title="CEO"), crm.rep(U1)).contact
    assert updated.version == 2 and not updated.key_person and updated.job_title == "CEO"
    err = crm.error("UpdateContact", pb.UpdateContactRequest(contact_id=boss.id, version=1, name="Stale"), crm.rep(U1))
    assert err.code() == grpc.StatusCode.ABORTED and "version 2" in err.details()
    err = crm.error("UpdateContact", pb.UpdateContactRequest(contact_id=boss.id, version=2, email=""), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # would leave no way to reach them
    assert crm.error("GetContact", pb.GetContactRequest(contact_id=boss.id),
                     crm.rep(U2)).code() == grpc.StatusCode.NOT_FOUND
    assert crm.call("GetContact", pb.GetContactRequest(contact_id=boss.id), crm.rep(U1)).contact == updated


def test_archive_is_never_a_delete(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Archive Me", contacts=[pb.ContactInput(name="Al", phone="+4912345678")]).customer
    err = crm.error("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=1), crm.rep(U1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason: required" in err.details()
    archived = crm.call("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=1,
                                                                     reason="company dissolved"), crm.rep(U1)).customer
    assert archived.archived and archived.archive_reason == "company dissolved" and archived.version == 2
    assert crm.call("ListCustomers", pb.ListCustomersRequest(), crm.rep(U1)).customers == []
    assert [x.id for x in crm.call("ListCustomers", pb.ListCustomersRequest(include_archived=True),
                                   crm.rep(U1)).customers] == [c.id]
    assert crm.get(c.id, crm.rep(U1)).archived  # still readable, with its contacts and history
    assert len(crm.call("ListContacts", pb.ListContactsRequest(customer_id=c.id), crm.rep(U1)).contacts) == 1
    assert crm.timeline(c.id, crm.rep(U1))[0].kind == pb.TIMELINE_ENTRY_KIND_ARCHIVED
    err = crm.error("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=2, notes="x"), crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "archived" in err.details()
    err = crm.error("ArchiveCustomer", pb.ArchiveCustomerRequest(customer_id=c.id, version=2, reason="again"),
                    crm.rep(U1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_settings_are_admin_only_and_versioned(crm):
    pb = crm.pb
    s = crm.call("GetSettings", pb.GetSettingsRequest(), crm.rep(U1)).settings
    assert (s.dark_after_days, s.churn_risk_after_days, s.version) == (14, 180, 1)
    err = crm.error("UpdateSettings", pb.UpdateSettingsRequest(version=1, dark_after_days=7), crm.manager("m-a"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = crm.error("UpdateSettings", pb.UpdateSettingsRequest(version=1, dark_after_days=0, churn_risk_after_days=-1,
                                                               sweep_interval_ms=5, default_phone_region="germany"),
                    crm.admin())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("dark_after_days", "churn_risk_after_days", "sweep_interval_ms", "default_phone_region"):
        assert field in err.details()
    s2 = crm.call("UpdateSettings", pb.UpdateSettingsRequest(version=1, dark_after_days=7), crm.admin()).settings
    assert (s2.dark_after_days, s2.churn_risk_after_days, s2.version) == (7, 180, 2)
    err = crm.error("UpdateSettings", pb.UpdateSettingsRequest(version=1, dark_after_days=9), crm.admin())
    assert err.code() == grpc.StatusCode.ABORTED
    restart_customers(crm)
    assert crm.call("GetSettings", pb.GetSettingsRequest(), crm.rep(U1)).settings == s2


# --------------------------------------------------------------------------------------------
# Hostile input: never INTERNAL, never a crash
# --------------------------------------------------------------------------------------------

METHODS = ["CreateCustomer", "GetCustomer", "BatchGetCustomers", "UpdateCustomer", "ListCustomers", "ArchiveCustomer",
           "FindDuplicates", "AddContact", "GetContact", "UpdateContact", "ListContacts", "ChangeLifecycle",
           "ReassignOwner", "AddCollaborator", "RemoveCollaborator", "MarkKey", "ListFocus", "ListTimeline",
           "GetSettings", "UpdateSettings", "RunSweep"]


def test_malformed_input_never_produces_internal_or_a_crash(crm):
    pb = crm.pb
    c = crm.create(crm.rep(U1), "Fuzz Target").customer
    channel = crm.suite.channel("customers")
    rng = random.Random(1234)
    bad_codes = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

    def raw_call(method, body, md):
        call = channel.unary_unary(f"/crm.customers.v1.CustomerService/{method}",
                                   request_serializer=None, response_deserializer=None)
        try:
            call(body, metadata=md, timeout=10)
        except grpc.RpcError as e:
            assert e.code() not in bad_codes, (method, body[:40], e.code(), e.details())

    # Random bytes, truncated messages and field soup into every method, as every role.
    valid = pb.CreateCustomerRequest(request_id="x", customer=pb.CustomerInput(name="Valid")).SerializeToString()
    bodies = [b"", b"\x00", b"\xff" * 9, valid[:-3], valid + b"\x08",
              bytes(rng.randrange(256) for _ in range(200))]
    for _ in range(20):
        bodies.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
    for method in METHODS:
        for body in bodies:
            raw_call(method, body, crm.rep(U1) if rng.random() < 0.5 else crm.admin())

    # Well-formed but absurd values.
    huge = "x" * 300_000
    weird = ["", " ", huge, "\u0000", "\u202e", "💥" * 500, "'; DROP TABLE customers; --", "%", "_", "\"", "cus_" + huge]
    for value in weird:
        for method, request in [
            ("GetCustomer", pb.GetCustomerRequest(customer_id=value)),
            ("ListCustomers", pb.ListCustomersRequest(query=value, region=value, tag=value, page_token=value,
                                                      page_size=2**31 - 1, updated_since_ms=-2**63)),
            ("ListCustomers", pb.ListCustomersRequest(sort=77, grades=[-5], statuses=[2**31 - 1])),
            ("CreateCustomer", pb.CreateCustomerRequest(request_id=value, lead_id=value, owner_id=value,
                                                        customer=pb.CustomerInput(name=value, phone=value, email=value,
                                                                                  tags=[value] * 60),
                                                        collaborator_ids=[value])),
            ("UpdateCustomer", pb.UpdateCustomerRequest(customer_id=c.id, version=2**63 - 1, name=value)),
            ("ListTimeline", pb.ListTimelineRequest(customer_id=c.id, page_token=value, since_ms=2**63 - 1,
                                                    until_ms=-2**63, kinds=[999])),
            ("ListFocus", pb.ListFocusRequest(owner_id=value, dark_after_days=-2**31, page_token=value)),
            ("ListContacts", pb.ListContactsRequest(customer_id=c.id, page_token=value, page_size=-3)),
            ("FindDuplicates", pb.FindDuplicatesRequest(name=value, phone=value, email=value)),
            ("BatchGetCustomers", pb.BatchGetCustomersRequest(customer_ids=[value] * 501)),
        ]:
            try:
                crm.call(method, request, crm.rep(U1))
            except grpc.RpcError as e:
                assert e.code() not in bad_codes, (method, value[:20], e.details())
    for token in ["AAAA", "%%%", "bm90IGEgdG9rZW4=", "MQ==", "Mx8weB94H3g="]:
        try:
            crm.call("ListCustomers", pb.ListCustomersRequest(page_token=token), crm.rep(U1))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (token, e.details())

    crm.suite.processes["customers"].assert_alive()
    assert crm.get(c.id, crm.rep(U1)).name == "Fuzz Target"
