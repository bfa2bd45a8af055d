"""Case "memory": idle resident memory of each of the six processes (release build, fresh store, peers
configured, background jobs running), read 3 s after start. The loaded figures come from the other
cases (peak RSS while serving their load)."""

from __future__ import annotations

import time
from pathlib import Path

from harness import set_clock, start_suite, stop_all
from seed import START_MS


def run(args, work: Path, summary: list[str]) -> None:
    clock = work / "clock"
    set_clock(clock, START_MS)
    servers = {}
    try:
        start_suite(work, clock, servers)
        time.sleep(3)
        idle = {name: server.rss_mb() for name, server in servers.items()}
    finally:
        stop_all(servers)
    print("\nidle RSS (MB), all six running, 3 s after start: " + ", ".join(f"{k} {v:.1f}" for k, v in idle.items()))
    worst = max(idle.values())
    line = f"  idle RSS per service: max {worst:.1f} MB ({max(idle, key=idle.get)}) (target < 30 MB) " \
           f"{'MET' if worst < 30 else 'NOT MET'}; " + ", ".join(f"{k} {v:.1f}" for k, v in idle.items())
    print(line)
    summary.append(line)
