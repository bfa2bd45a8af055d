"""Start real suite processes for a test: each with its own SQLite file under a temp directory,
the shared service token, a test clock file, and every peer's address.

Ports are reserved up front (bind to port 0, read, release) so processes that call each other
can be given each other's addresses before any of them starts.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

import grpc

SERVICE_TOKEN = "test-service-token"
SERVICES = ("gateway", "leads", "customers", "opportunities", "tickets", "forecast")
# 2026-01-05T09:00:00Z, a Monday: a fixed start so time-dependent rules are deterministic.
START_MS = 1_767_603_600_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


_ports = random.SystemRandom()


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768 and up), so that no outgoing connection
    can take it between now and the moment a process of the test binds it."""
    for _ in range(500):
        port = _ports.randint(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


class TestClock:
    """The file every process of a suite reads "now" (UTC ms) from (--clock-file)."""

    def __init__(self, path: Path, start_ms: int = START_MS):
        self.path = path
        self.set(start_ms)

    def set(self, ms: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(ms))
        tmp.replace(self.path)  # atomic: a process never reads a half-written number
        self.now_ms = ms

    def advance(self, *, hours: float = 0, days: float = 0, ms: int = 0) -> int:
        self.set(self.now_ms + int(hours * HOUR_MS + days * DAY_MS) + ms)
        return self.now_ms


@dataclass
class Suite:
    start_process: object
    directory: Path
    clock: TestClock
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, object] = field(default_factory=dict)
    channels: list = field(default_factory=list)

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def start(self, name: str, *extra: str):
        """Starts crm-<name> with its own store, the token, the clock and all peer addresses."""
        args = [
            "--db", str(self.directory / f"{name}.sqlite"),
            "--service-token", SERVICE_TOKEN,
            "--clock-file", str(self.clock.path),
        ]
        for peer in SERVICES:
            if peer != name:
                args += [f"--{peer}-addr", self.address(peer)]
        process = self.start_process(f"crm-{name}", *args, *extra, listen=self.address(name))
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        self.processes.pop(name).stop()

    def channel(self, name: str) -> grpc.Channel:
        channel = grpc.insecure_channel(self.address(name))
        self.channels.append(channel)
        return channel

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def identity(user: str, role: str = "rep", team: str = "team-a", token: str = SERVICE_TOKEN):
    """Metadata of a call as the gateway forwards it (SUITE.md "Who is calling")."""
    return (
        ("x-crm-service-token", token),
        ("x-crm-user", user),
        ("x-crm-role", role),
        ("x-crm-team", team),
    )


def system_identity(token: str = SERVICE_TOKEN):
    return (("x-crm-service-token", token),)
