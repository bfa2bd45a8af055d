"""Case "health": the RPC floor. grpc.health.v1.Health/Check on one process vs nghttpd serving the same
response bytes from a file (HTTP/2 with no gRPC at all)."""

from __future__ import annotations

from pathlib import Path

from harness import BIN, Result, Server, framed, free_port, measure, stubs, table, verdict


def nghttpd_floor(path: str, response: bytes, body: Path, args, work: Path, label: str) -> Result:
    """nghttpd serving `response` (already framed) at `path`: the HTTP/2 floor for that answer."""
    docroot = work / f"docroot-{label}"
    target = docroot / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(response)
    port = free_port()
    server = Server(["nghttpd", "--no-tls", "-d", str(docroot), str(port)], port, name=f"nghttpd-{label}")
    try:
        return measure(f"nghttpd (HTTP/2 floor, same bytes)", server, path, body, args, work)
    finally:
        server.stop()


def verify_health(address: str) -> None:
    """h2load only sees HTTP 200; a real gRPC client checks the grpc-status and the answer."""
    stubs()
    import grpc
    from grpc.health.v1 import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, reply


def run(args, work: Path, summary: list[str]) -> None:
    body = work / "check.bin"
    body.write_bytes(framed(b""))
    path = "/grpc.health.v1.Health/Check"
    reference = nghttpd_floor(path, framed(b"\x08\x01"), body, args, work, "health")

    port = free_port()
    ours = Server([str(BIN / "crm-interop-server"), "--listen", f"127.0.0.1:{port}", "--log-level", "error"], port)
    try:
        verify_health(ours.address)
        mine = measure("crm-interop-server health Check", ours, path, body, args, work)
    finally:
        ours.stop()
    table(f"health Check: {args.requests} requests x {args.rounds} rounds, {args.clients} connections x "
          f"{args.streams} streams (median round)", [reference, mine])
    line = verdict("health Check req/s vs nghttpd", mine.round.rps / reference.round.rps, 0.70)
    print(line)
    summary.append(line)
