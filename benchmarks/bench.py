#!/usr/bin/env python3
"""Side-by-side benchmarks: every figure is printed next to a reference measured in the same run
on the same machine, as a ratio (machines here are noisy; absolute numbers mean little).

Method: the server under test is pinned to core 0 and the load generator (h2load) to core 1,
the same split for every server; one warm-up, then the median of N rounds. h2load counts any
HTTP 200 as success, so each server's answers are also checked with a real gRPC client.

    benchmarks/run [--rounds 3] [--requests 100000] [--case health]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("CRM_BENCH_BIN_DIR", REPO / ".build-release" / "release"))
SERVER_CORE, LOAD_CORE = "0", "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def framed(message: bytes) -> bytes:
    return bytes([0]) + len(message).to_bytes(4, "big") + message


@dataclass
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    succeeded: int
    failed: int


def h2load(url: str, body: Path, requests: int, clients: int, streams: int, log: Path) -> Round:
    cmd = ["taskset", "-c", LOAD_CORE, "h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams),
           "-t", "1", "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
           "--log-file", str(log), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    # Log lines: start time (µs), HTTP status, latency (µs).
    latencies = sorted(int(line.split()[2]) for line in log.read_text().splitlines() if line.strip())
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000
    return Round(rps, p(0.50), p(0.99), int(done.group(1)), int(done.group(2)))


class Server:
    def __init__(self, argv: list[str], port: int):
        self.port = port
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{argv[0]} did not start listening on {port}")

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(name: str, server: Server, path: str, body: Path, args, work: Path) -> tuple[Round, float]:
    url = f"http://127.0.0.1:{server.port}{path}"
    h2load(url, body, max(args.requests // 10, 1000), args.clients, args.streams, work / "warmup.log")
    rounds = [h2load(url, body, args.requests, args.clients, args.streams, work / f"{name}-{i}.log")
              for i in range(args.rounds)]
    for r in rounds:
        if r.failed or r.succeeded != args.requests:
            raise RuntimeError(f"{name}: {r.failed} failed, {r.succeeded} succeeded of {args.requests}")
    median = sorted(rounds, key=lambda r: r.rps)[len(rounds) // 2]
    return median, server.peak_rss_mb()


def verify_health(address: str) -> None:
    """h2load only sees HTTP 200; a real gRPC client checks the grpc-status and the answer."""
    import grpc
    sys.path.insert(0, str(stubs_dir()))
    grpc.__path__.append(str(stubs_dir() / "grpc"))
    from grpc.health.v1 import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, reply


_STUBS: Path | None = None


def stubs_dir() -> Path:
    global _STUBS
    if _STUBS is None:
        _STUBS = Path(tempfile.mkdtemp(prefix="bench-stubs-"))
        protos = [str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto")]
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'proto'}",
                        f"--python_out={_STUBS}", f"--grpc_python_out={_STUBS}", *protos], check=True)
    return _STUBS


def case_health(args, work: Path) -> None:
    """The RPC floor: grpc.health.v1.Health/Check on one process vs nghttpd serving the same bytes."""
    body = work / "check.bin"
    body.write_bytes(framed(b""))
    docroot = work / "docroot" / "grpc.health.v1.Health"
    docroot.mkdir(parents=True)
    (docroot / "Check").write_bytes(framed(b"\x08\x01"))  # HealthCheckResponse{status: SERVING}

    port = free_port()
    reference = Server(["nghttpd", "--no-tls", "-d", str(work / "docroot"), str(port)], port)
    try:
        ref, ref_rss = measure("nghttpd", reference, "/grpc.health.v1.Health/Check", body, args, work)
    finally:
        reference.stop()

    port = free_port()
    ours = Server([str(BIN / "crm-interop-server"), "--listen", f"127.0.0.1:{port}", "--log-level", "error"], port)
    try:
        idle_rss = ours.rss_mb()
        verify_health(f"127.0.0.1:{port}")
        mine, mine_rss = measure("crm", ours, "/grpc.health.v1.Health/Check", body, args, work)
    finally:
        ours.stop()

    print(f"\nhealth Check, {args.requests} requests × {args.rounds} rounds, {args.clients} connections × "
          f"{args.streams} streams, server on core {SERVER_CORE}, h2load on core {LOAD_CORE} (median round)")
    print(f"{'server':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}")
    print(f"{'nghttpd (reference)':<22}{ref.rps:>10.0f}{ref.p50_ms:>9.2f}{ref.p99_ms:>9.2f}{ref_rss:>13.1f}")
    print(f"{'crm-interop-server':<22}{mine.rps:>10.0f}{mine.p50_ms:>9.2f}{mine.p99_ms:>9.2f}{mine_rss:>13.1f}")
    print(f"ratio: {mine.rps / ref.rps * 100:.0f}% of nghttpd's requests/s (target ≥ 70%); idle RSS {idle_rss:.1f} MB")


CASES = {"health": case_health}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    args = parser.parse_args()
    for tool in ("h2load", "nghttpd", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: run scripts/setup")
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        for name in args.case or sorted(CASES):
            CASES[name](args, Path(tmp))


if __name__ == "__main__":
    main()
