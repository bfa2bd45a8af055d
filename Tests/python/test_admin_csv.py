"""crm-admin import-csv (issue 9): another CRM's CSV export brought in through the services' own
validation. A file with good and bad rows imports the good ones and names each bad row with its
reason (R1 for leads, R3 for opportunities); a dry run stores nothing; re-running a file creates
nothing twice. Runs the real crm-admin against real crm-leads / crm-customers / crm-opportunities."""

from __future__ import annotations

import csv
import io

from admin_support import admin, ok
from suite import identity

ADMIN = identity("admin-1", "admin", "hq")
T = 10

LEADS_CSV = """\
Lead Source,Context,Name,Phone,E-Mail,Company,Background,Need,UTM
Trade show,asked for a demo at booth 12,Anna Schmidt,+49 151 2345 6701,anna@example.com,Schmidt GmbH,40 trucks,fleet planning,fair-2026
website,"filled the ""contact us"" form, asked for pricing",Ben Ode,,ben@example.org,Ode AG,retailer,POS,seo
Carrier pigeon,met at the pub,Cara,+49 151 2345 6703,,Pub Ltd,none,beer,
,walked in,,not-a-phone,,Nobody,,,
Referral,"multi-line
note from the old CRM",Dora Kim,+49 151 2345 6705,dora@example.com,Kim KG,referred by Anna,CRM rollout,ref
"""

LEAD_MAP = ["--map", "source=Lead Source", "--map", "scenario=Context", "--map", "contact_name=Name",
            "--map", "email=E-Mail", "--map", "background=Background", "--map", "initial_need=Need",
            "--map", "attributes.utm=UTM", "--set", "routing=pool"]


def leads_stub(suite):
    from crm.leads.v1 import leads_pb2, leads_pb2_grpc
    return leads_pb2, leads_pb2_grpc.LeadServiceStub(suite.channel("leads"))


def all_leads(suite):
    pb, stub = leads_stub(suite)
    return list(stub.ListLeads(pb.ListLeadsRequest(page_size=500), metadata=ADMIN, timeout=T).leads)


def test_import_csv_leads_imports_good_rows_and_names_each_bad_row(suite, tmp_path):
    suite.start("leads", "--directory-cache-ms", "0")
    file = tmp_path / "leads.csv"
    file.write_text(LEADS_CSV)
    addr = ["--addr", suite.address("leads")]

    dry = admin("import-csv", "leads", file, *LEAD_MAP, "--dry-run", *addr)
    assert dry.code == 1, dry.explain()
    assert "dry run" in dry.stdout and all_leads(suite) == [], "a dry run stores nothing"
    assert "row 3 (line 4): INVALID" in dry.stdout and "row 4 (line 5): INVALID" in dry.stdout

    report = tmp_path / "report.csv"
    run = admin("import-csv", "leads", file, *LEAD_MAP, "--report", report, *addr)
    assert run.code == 1, run.explain()
    out = run.stdout
    # The bad rows, each named with every reason: a local conversion error, and R1 from crm-leads.
    assert "row 3 (line 4): INVALID — source: 'Carrier pigeon' is not one of: marketing_event" in out
    row4 = next(line for line in out.splitlines() if line.startswith("row 4 (line 5)"))
    assert "INVALID" in row4 and "source" in row4 and "contact_name" in row4 and "phone" in row4, row4
    assert "background" in row4 and "initial_need" in row4, row4
    assert "row 1 " not in out and "row 2 " not in out and "row 5 " not in out, "good rows are not errors"
    assert "total: 5 rows: 3 imported, 2 invalid" in out, out

    stored = {lead.contact_name: lead for lead in all_leads(suite)}
    assert set(stored) == {"Anna Schmidt", "Ben Ode", "Dora Kim"}
    pb, _ = leads_stub(suite)
    assert stored["Anna Schmidt"].source == pb.LEAD_SOURCE_TRADE_SHOW
    assert stored["Anna Schmidt"].phone == "+4915123456701"  # normalised by crm-leads (R1)
    assert stored["Ben Ode"].scenario == 'filled the "contact us" form, asked for pricing'
    assert stored["Dora Kim"].scenario == "multi-line\nnote from the old CRM"
    assert stored["Dora Kim"].source == pb.LEAD_SOURCE_CUSTOMER_REFERRAL
    assert dict(stored["Anna Schmidt"].attributes) == {"utm": "fair-2026"}
    assert stored["Anna Schmidt"].status == pb.LEAD_STATUS_POOL

    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    assert [r["status"] for r in rows] == ["IMPORTED", "IMPORTED", "INVALID", "INVALID", "IMPORTED"]
    assert rows[0]["id"] == stored["Anna Schmidt"].id and rows[4]["line"] == "6"

    # Re-running the same file creates nothing twice.
    again = admin("import-csv", "leads", file, *LEAD_MAP, *addr)
    assert again.code == 1 and "3 unchanged" in again.stdout, again.explain()
    assert len(all_leads(suite)) == 3


def test_import_csv_opportunities_enforces_r3_per_row(suite, tmp_path):
    suite.start("opportunities")
    file = tmp_path / "deals.csv"
    file.write_text(
        "customer_id,title,Amount,currency,key_person_contact_id,need,Budget,expected_close_date,competitors,next_step,next_step_due_ms\n"
        "cust-1,Packaging line,\"50,000.00\",EUR,contact-cfo,Automate packing,60000,2026-03-31,Acme;Globex,Call the CFO,2026-01-06\n"
        "cust-2,No key person,1000,EUR,,Something,2000,2026-04-30,Acme,Call,2026-01-06\n"
        "cust-3,Bad date,1000,EUR,contact-x,Something,2000,2026-04-30,Acme,Call,next tuesday\n")
    run = admin("import-csv", "opportunities", file, "--map", "amount=Amount", "--map", "budget=Budget",
                "--as-user", "rep-a", "--addr", suite.address("opportunities"))
    assert run.code == 1, run.explain()
    assert "row 2 (line 3): INVALID" in run.stdout and "key_person" in run.stdout, run.stdout
    assert "row 3 (line 4): INVALID — next_step_due_ms: 'next tuesday' is neither" in run.stdout
    assert "1 imported, 2 invalid" in run.stdout

    from crm.opportunities.v1 import opportunities_pb2 as pb, opportunities_pb2_grpc
    stub = opportunities_pb2_grpc.OpportunityServiceStub(suite.channel("opportunities"))
    deals = stub.ListOpportunities(pb.ListOpportunitiesRequest(), metadata=ADMIN, timeout=T).opportunities
    assert [(d.title, d.amount_cents, d.owner_id) for d in deals] == [("Packaging line", 5_000_000, "rep-a")]
    assert list(deals[0].competitors) == ["Acme", "Globex"]


def test_import_csv_customers_with_their_first_contact(suite, tmp_path):
    suite.start("customers")
    file = tmp_path / "accounts.csv"
    file.write_text("Account;Industry;Size;Contact;Contact email;Owner\n"
                    "Bäckerei Kunz;Food;small;Ute Kunz;ute@kunz.example;rep-a\n"
                    ";Food;small;Nobody;;rep-a\n"
                    "Metallbau Ost;Metal;enormous;Olaf;olaf@ost.example;rep-b\n")
    run = admin("import-csv", "customers", file, "--delimiter", ";", "--map", "name=Account", "--map", "size=Size",
                "--map", "contact.name=Contact", "--map", "contact.email=Contact email", "--map", "owner_id=Owner",
                "--addr", suite.address("customers"), "--verbose")
    assert run.code == 1, run.explain()
    assert "row 1 (line 2): IMPORTED" in run.stdout
    assert "row 2 (line 3): INVALID" in run.stdout and "name" in run.stdout
    assert "row 3 (line 4): INVALID — size: 'enormous' is not one of:" in run.stdout
    assert "industry ← Industry" in run.stderr  # a header naming a field maps itself

    from crm.customers.v1 import customers_pb2 as pb, customers_pb2_grpc
    stub = customers_pb2_grpc.CustomerServiceStub(suite.channel("customers"))
    customers = stub.ListCustomers(pb.ListCustomersRequest(), metadata=ADMIN, timeout=T).customers
    assert [(c.name, c.owner_id, c.industry) for c in customers] == [("Bäckerei Kunz", "rep-a", "Food")]
    contacts = stub.ListContacts(pb.ListContactsRequest(customer_id=customers[0].id), metadata=ADMIN, timeout=T).contacts
    assert [(c.name, c.email) for c in contacts] == [("Ute Kunz", "ute@kunz.example")]

    # More people of that customer, from a second file; a dry run converts without storing.
    people = tmp_path / "people.csv"
    people.write_text(f"customer_id,name,job_title,role,email,key_person\n"
                      f"{customers[0].id},Jens Kunz,Head of Purchasing,procurement,jens@kunz.example,no\n"
                      f"{customers[0].id},Kim Kunz,CFO,finance,kim@kunz.example,yes\n"
                      f"{customers[0].id},Nobody,Intern,astronaut,,no\n")
    dry = admin("import-csv", "contacts", people, "--dry-run", "--addr", suite.address("customers"))
    assert dry.code == 1 and "row 3 (line 4): INVALID — role: 'astronaut' is not one of:" in dry.stdout, dry.explain()
    assert "2 valid" in dry.stdout
    assert len(stub.ListContacts(pb.ListContactsRequest(customer_id=customers[0].id), metadata=ADMIN, timeout=T).contacts) == 1
    added = admin("import-csv", "contacts", people, "--addr", suite.address("customers"))
    assert added.code == 1 and "2 imported, 1 invalid" in added.stdout, added.explain()
    contacts = stub.ListContacts(pb.ListContactsRequest(customer_id=customers[0].id), metadata=ADMIN, timeout=T).contacts
    by_name = {c.name: c for c in contacts}
    assert set(by_name) == {"Ute Kunz", "Jens Kunz", "Kim Kunz"}
    assert by_name["Kim Kunz"].key_person and by_name["Jens Kunz"].role == pb.CONTACT_ROLE_PROCUREMENT


def test_import_csv_usage_errors_name_the_problem(suite, tmp_path):
    file = tmp_path / "x.csv"
    file.write_text("a,b\n1,2\n")
    unknown_field = admin("import-csv", "leads", file, "--map", "colour=a")
    assert unknown_field.code == 64 and "colour" in unknown_field.stderr and "contact_name" in unknown_field.stderr
    unknown_column = admin("import-csv", "leads", file, "--map", "phone=Telephone")
    assert unknown_column.code == 64 and "no column 'Telephone'" in unknown_column.stderr
    unknown_kind = admin("import-csv", "invoices", file)
    assert unknown_kind.code == 64 and "leads, customers, contacts or opportunities" in unknown_kind.stderr or "one of" in unknown_kind.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text('name,phone\n"never closed,1\n')
    bad = admin("import-csv", "leads", broken)
    assert bad.code == 2 and "line 2" in bad.stderr and "never ends" in bad.stderr
