"""What every benchmark case shares: servers pinned to the server core, h2load pinned to the load core,
median-of-rounds measurement, memory readings, generated stubs, and the printed tables.

Method (issue 10): the server under test (and, for the gateway case, its backend too) runs on core 0,
the load generator on core 1, the same split for every server of a run; one warm-up, then the median
of N rounds by requests/s. h2load counts any HTTP 200 as success, so each case also checks its
answers with a real gRPC client (grpc-status 0 and the expected message).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("CRM_BENCH_BIN_DIR", REPO / ".build-static" / "release"))
SERVER_CORE, LOAD_CORE = "0", "1"
SERVICE_TOKEN = "bench-service-token"
ADMIN_TOKEN = "bench-admin-token"
SERVICES = ("gateway", "leads", "customers", "opportunities", "tickets", "forecast")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def framed(message: bytes) -> bytes:
    return bytes([0]) + len(message).to_bytes(4, "big") + message


def set_clock(path: Path, ms: int) -> None:
    """Writes the --clock-file atomically, so a running process never reads half a number."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(ms))
    tmp.replace(path)


def identity_headers(user: str, role: str, team: str) -> list[str]:
    """The metadata the gateway forwards to a service, as h2load -H arguments."""
    return [f"x-crm-service-token: {SERVICE_TOKEN}", f"x-crm-user: {user}", f"x-crm-role: {role}",
            f"x-crm-team: {team}"]


def identity_metadata(user: str, role: str, team: str):
    return (("x-crm-service-token", SERVICE_TOKEN), ("x-crm-user", user), ("x-crm-role", role), ("x-crm-team", team))


@dataclass
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    succeeded: int
    failed: int


@dataclass
class Result:
    label: str
    round: Round
    peak_rss_mb: float
    note: str = ""


def h2load(url: str, body: Path, requests: int, clients: int, streams: int, log: Path,
           headers: list[str] = ()) -> Round:
    cmd = ["taskset", "-c", LOAD_CORE, "h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams),
           "-t", "1", "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
           "--log-file", str(log)]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=900).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    # Log lines: start time (µs), HTTP status, latency (µs).
    latencies = sorted(int(line.split()[2]) for line in log.read_text().splitlines() if line.strip())
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000 if latencies else float("nan")
    return Round(rps, p(0.50), p(0.99), int(done.group(1)), int(done.group(2)))


class Server:
    """A process pinned to the server core; waits until it accepts connections."""

    def __init__(self, argv: list[str], port: int, name: str | None = None, env: dict | None = None,
                 core: str = SERVER_CORE, background: bool = False):
        self.port = port
        self.name = name or Path(argv[0]).name
        self.log = open(Path(tempfile.gettempdir()) / f"crm-bench-{self.name}-{port}.log", "w")
        # A background process (nice 19) yields its core to the load generator it shares it with.
        niceness = ["nice", "-n", "19"] if background else []
        self.proc = subprocess.Popen([*niceness, "taskset", "-c", core, *argv], stdout=subprocess.DEVNULL, stderr=self.log,
                                     env={**os.environ, **(env or {})})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start listening on {port}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _status(self, key: str) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        return self._status("VmHWM")

    def rss_mb(self) -> float:
        return self._status("VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def suite_process(name: str, db: Path, ports: dict[str, int], clock: Path | None = None,
                  extra: list[str] = (), core: str = SERVER_CORE, background: bool = False) -> Server:
    """crm-<name> from the release build with its store, the token, the peers' addresses, errors-only logs."""
    argv = [str(BIN / f"crm-{name}"), "--listen", f"127.0.0.1:{ports[name]}", "--db", str(db),
            "--service-token", SERVICE_TOKEN, "--log-level", "error"]
    for peer in SERVICES:
        if peer != name and peer in ports:
            argv += [f"--{peer}-addr", f"127.0.0.1:{ports[peer]}"]
    if clock is not None:
        argv += ["--clock-file", str(clock)]
    if name == "gateway":
        argv += ["--admin-token", ADMIN_TOKEN]
    return Server([*argv, *extra], ports[name], name=f"crm-{name}", core=core, background=background)


def start_suite(work: Path, clock: Path, servers: dict[str, Server]) -> None:
    """All six processes, each with its own store under `work` and every peer's address; started into
    `servers` one by one, so a caller's `finally` can stop whichever did start."""
    ports = {name: free_port() for name in SERVICES}
    for name in SERVICES:
        servers[name] = suite_process(name, work / f"{name}.sqlite", ports, clock=clock)


def stop_all(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.stop()


def measure(label: str, server: Server, path: str, body: Path | list[Path], args, work: Path,
            headers: list[str] = (), requests: int | None = None, peak_of: list[Server] = ()) -> Result:
    """One warm-up, then `args.rounds` rounds; the median round by requests/s. With a list of bodies,
    round i sends bodies[i] (h2load sends one body per run: this varies e.g. the record asked for)."""
    requests = requests or args.requests
    bodies = body if isinstance(body, list) else [body]
    url = f"http://127.0.0.1:{server.port}{path}"
    h2load(url, bodies[0], max(requests // 10, 1000), args.clients, args.streams, work / "warmup.log", headers)
    rounds = [h2load(url, bodies[i % len(bodies)], requests, args.clients, args.streams,
                     work / f"{label.replace(' ', '_').replace('/', '_')}-{i}.log", headers)
              for i in range(args.rounds)]
    for r in rounds:
        if r.failed or r.succeeded != requests:
            raise RuntimeError(f"{label}: {r.failed} failed, {r.succeeded} succeeded of {requests}")
    median = sorted(rounds, key=lambda r: r.rps)[len(rounds) // 2]
    peak = sum(s.peak_rss_mb() for s in (peak_of or [server]))
    return Result(label, median, peak)


def table(title: str, results: list[Result]) -> None:
    print(f"\n{title}")
    print(f"  {'server':<44}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}")
    for r in results:
        print(f"  {r.label:<44}{r.round.rps:>10.0f}{r.round.p50_ms:>9.2f}{r.round.p99_ms:>9.2f}"
              f"{r.peak_rss_mb:>13.1f}{('  ' + r.note) if r.note else ''}")


def verdict(text: str, ratio: float, target: float, *, higher_is_better: bool = True) -> str:
    ok = ratio >= target if higher_is_better else ratio <= target
    return f"  {text}: {ratio:.2f} (target {'≥' if higher_is_better else '≤'} {target:g}) {'MET' if ok else 'NOT MET'}"


_STUBS: Path | None = None


def stubs() -> Path:
    """Python stubs for proto/, generated once per run and importable (`from crm.customers.v1 import ...`)."""
    global _STUBS
    if _STUBS is None:
        _STUBS = Path(tempfile.mkdtemp(prefix="bench-stubs-"))
        protos = [str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto")]
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'proto'}",
                        f"--python_out={_STUBS}", f"--grpc_python_out={_STUBS}", *protos], check=True)
        sys.path.insert(0, str(_STUBS))
        import grpc
        grpc.__path__.append(str(_STUBS / "grpc"))
    return _STUBS


def machine_note() -> str:
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")
