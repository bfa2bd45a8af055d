"""The one-command local suite and crm-admin's live commands (issue 9): scripts/suite brings six
processes up, `crm-admin health` shows six SERVING rows, `crm-admin seed --demo` fills the suite
through the public RPCs, `crm-admin my-day` shows a rep's day, Ctrl-C stops everything cleanly and
a restart keeps the data and the admin token. Plus health of explicit addresses and of the
gateway's backends, and users / tokens through the gateway."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest

from admin_support import admin, ok
from conftest import REPO_ROOT, bin_dir, find_binary
from gateway_fakes import ADMIN_TOKEN

NAMES = ("gateway", "leads", "customers", "opportunities", "tickets", "forecast")


def free_port_block(size: int = 6) -> int:
    """A base port with `size` consecutive free ports after it."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65000:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    pytest.fail("no block of free ports")


class LocalSuite:
    """scripts/suite running in its own process group, as a terminal would run it."""

    def __init__(self, data: Path, base: int):
        self.data = data
        for name in [*NAMES, "admin"]:
            find_binary(f"crm-{name}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env["CRM_BIN_DIR"] = str(bin_dir())
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(REPO_ROOT / "scripts" / "suite"), "--no-setup", "--no-build", "--data", str(data), "--port-base", str(base)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True, cwd=REPO_ROOT,
            # As from a terminal: a runner started in the background ignores SIGINT, and bash
            # cannot trap a signal that was ignored when it started.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(90):
            self.interrupt()
            pytest.fail("scripts/suite did not come up within 90 s:\n" + "\n".join(self.lines))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Ctrl-C stops everything" in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill_services(self):
        """The services run in process groups of their own; never leave them behind."""
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(self.data).encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue

    def interrupt(self, timeout: float = 40) -> int:
        """Ctrl-C: SIGINT to the whole process group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.kill_services()
            pytest.fail("scripts/suite did not stop within 40 s of Ctrl-C:\n" + self.output)


def suite_env(data: Path) -> dict[str, str]:
    """What `source data/suite.env` gives an operator's shell."""
    env = {}
    for match in re.finditer(r"(CRM_[A-Z_]+)=(\S+)", (data / "suite.env").read_text()):
        env[match[1]] = match[2]
    return env


def test_one_command_suite_health_seed_my_day_and_clean_ctrl_c(tmp_path):
    data, base = tmp_path / "data", free_port_block()
    suite = LocalSuite(data, base)
    try:
        out = suite.output
        token = re.search(r"admin token:\s+(\S+)", out)[1]
        for i, name in enumerate(NAMES):  # every address is printed
            assert re.search(rf"^{name}\s+127\.0\.0\.1:{base + i}\s+SERVING", out, re.M), out
        env = suite_env(data)
        assert env["CRM_ADMIN_TOKEN"] == token and env["CRM_GATEWAY_ADDR"] == f"127.0.0.1:{base}"
        for name in NAMES:
            assert (data / f"{name}.sqlite").exists(), f"no store for {name} under data/"

        health = ok("health", env=env)
        processes, backends = health.stdout.split("Backends as the gateway")
        rows = processes.strip().splitlines()[1:]
        assert len(rows) == 6, processes
        for i, name in enumerate(NAMES):  # six SERVING rows: service, address, status, latency
            assert re.match(rf"^{name}\s+127\.0\.0\.1:{base + i}\s+SERVING\s+[\d.]+ ms", rows[i]), rows[i]
        assert backends.count(" SERVING ") == 5 and "UNREACHABLE" not in backends, backends

        seeded = ok("seed", "--demo", env=env, timeout=180)
        assert "7 new users" in seeded.stdout and "rick@demo.example" in seeded.stdout, seeded.explain()
        assert "failed" not in seeded.stdout

        day = ok("my-day", "--user", "rick@demo.example", env=env)
        assert "Leads to activate (R2): 1" in day.stdout, day.stdout
        assert re.search(r"Next steps due \(R6\): [1-9]", day.stdout), day.stdout
        assert re.search(r"Key customers.*\(R7\): [1-9]", day.stdout), day.stdout
        # As the rep, with the token the seed issued.
        rick_token = re.search(r"rick@demo\.example\s+rep\s+\S+\s+(\S+)", seeded.stdout)[1]
        mine = ok("my-day", "--token", rick_token, "--json", env=env)
        assert '"leadsToActivate"' in mine.stdout and '"userId"' in mine.stdout
    finally:
        code = suite.interrupt()
    assert code == 0, suite.output
    assert "all processes stopped cleanly" in suite.output
    down = admin("health", env=env)
    assert down.code == 1 and down.stdout.count("UNREACHABLE") >= 6

    # A restart keeps the stores and the admin token; the seed finds everything there.
    again = LocalSuite(data, base)
    try:
        assert f"admin token:  {token}" in again.output
        reseeded = ok("seed", "--demo", env=env, timeout=180)
        assert "nothing new created" in reseeded.stdout, reseeded.stdout
    finally:
        assert again.interrupt() == 0, again.output


def test_health_names_each_process_and_reports_what_is_down(suite):
    suite.start("tickets")
    suite.start("leads", "--directory-cache-ms", "0")
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    live = ok("health", suite.address("tickets"), suite.address("leads"))
    assert re.search(rf"^tickets\s+{suite.address('tickets')}\s+SERVING\s+[\d.]+ ms", live.stdout, re.M), live.stdout
    assert re.search(rf"^leads\s+{suite.address('leads')}\s+SERVING", live.stdout, re.M), live.stdout

    dead = admin("health", suite.address("tickets"), suite.address("forecast"))
    assert dead.code == 1, dead.explain()
    assert re.search(rf"{suite.address('forecast')}\s+UNREACHABLE", dead.stdout), dead.stdout

    view = admin("health", "--gateway", suite.address("gateway"), "--token", ADMIN_TOKEN)
    assert view.code == 1, view.explain()  # customers, opportunities and forecast are not running
    assert re.search(rf"^gateway\s+{suite.address('gateway')}\s+SERVING", view.stdout, re.M), view.stdout
    backends = view.stdout.split("sees them:")[1]
    assert re.search(r"^tickets\s+\S+\s+SERVING", backends, re.M) and re.search(r"^leads\s+\S+\s+SERVING", backends, re.M)
    assert re.search(r"^forecast\s+\S+\s+(UNREACHABLE|NOT_SERVING|UNKNOWN)", backends, re.M), backends

    no_token = admin("health", "--gateway", suite.address("gateway"))
    assert no_token.code == 0 and "pass --token" in no_token.stdout


def test_users_and_tokens_through_the_gateway(suite):
    suite.start("gateway", "--admin-token", ADMIN_TOKEN)
    from crm.gateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc
    stub = gateway_pb2_grpc.GatewayServiceStub(suite.channel("gateway"))
    gw = ["--gateway", suite.address("gateway"), "--token", ADMIN_TOKEN]

    team = ok("users", "create-team", "--name", "North", *gw).stdout.strip()
    assert ok("users", "create-team", "--name", "North", *gw).stdout.strip() == team  # idempotent
    mia = ok("users", "create", "--name", "Mia", "--email", "mia@example.com", "--role", "manager", "--team", "North", *gw).stdout.strip()
    rick = ok("users", "create", "--name", "Rick", "--email", "rick@example.com", "--team", team, "--manager", "mia@example.com",
              "--capacity", "7", *gw).stdout.strip()
    user = stub.GetUser(pb.GetUserRequest(user_id=rick), metadata=(("authorization", f"Bearer {ADMIN_TOKEN}"),), timeout=10).user
    assert (user.team_id, user.manager_id, user.lead_capacity, user.role) == (team, mia, 7, pb.ROLE_REP)
    listed = ok("users", "list", "--team", "North", *gw).stdout
    assert "rick@example.com" in listed and "mia@example.com" in listed

    issued = ok("tokens", "issue", "--user", "rick@example.com", "--name", "laptop", *gw)
    secret = issued.stdout.strip()
    assert len(issued.stdout.splitlines()) == 1 and secret, "the secret alone on stdout"
    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=(("authorization", f"Bearer {secret}"),), timeout=10)
    assert me.user.id == rick
    tokens = ok("tokens", "list", "--user", rick, *gw).stdout
    token_id = re.search(r"^(\S+)\s+laptop\s", tokens, re.M)[1]
    ok("tokens", "revoke", token_id, "--reason", "laptop stolen", *gw)
    with pytest.raises(grpc.RpcError) as info:
        stub.WhoAmI(pb.WhoAmIRequest(), metadata=(("authorization", f"Bearer {secret}"),), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

    ok("users", "deactivate", "rick@example.com", "--reason", "left the company", *gw)
    assert "rick@example.com" not in ok("users", "list", *gw).stdout
    assert "rick@example.com" in ok("users", "list", "--inactive", *gw).stdout

    bad_role = admin("users", "create", "--name", "X", "--email", "x@example.com", "--role", "boss", *gw)
    assert bad_role.code == 64 and "rep, manager or admin" in bad_role.stderr
    wrong = admin("users", "list", "--gateway", suite.address("gateway"), "--token", "nope")
    assert wrong.code == 2 and "UNAUTHENTICATED" in wrong.stderr
