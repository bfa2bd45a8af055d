#!/usr/bin/env python3
"""Side-by-side benchmarks: every figure is printed next to a reference measured in the same run on the
same machine, as a ratio (machines here are noisy; absolute numbers mean little).

Method: the server under test is pinned to core 0 and the load generator (h2load) to core 1, the same
split for every server; one warm-up, then the median of N rounds. h2load counts any HTTP 200 as
success, so each server's answers are also checked with a real gRPC client.

    benchmarks/run [--case health] [--case customers] ... [--rounds 3] [--requests 100000]

Cases (all by default, in this order): memory, health, leads, forecast, customers, myday.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import case_customers  # noqa: E402
import case_forecast  # noqa: E402
import case_health  # noqa: E402
import case_leads  # noqa: E402
import case_memory  # noqa: E402
import case_myday  # noqa: E402
from harness import BIN, machine_note  # noqa: E402

CASES = {"memory": case_memory.run, "health": case_health.run, "leads": case_leads.run,
         "forecast": case_forecast.run, "customers": case_customers.run, "myday": case_myday.run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=list(CASES), action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100_000, help="per round, read cases")
    parser.add_argument("--reference-requests", type=int, default=20_000, help="per round, Python reference")
    parser.add_argument("--write-requests", type=int, default=20_000, help="per round, CreateLead")
    parser.add_argument("--myday-requests", type=int, default=10_000, help="per round, MyDay")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--customers", type=int, default=1_000_000, help="rows in the GetCustomer store")
    parser.add_argument("--deals", type=int, default=100_000, help="open opportunities for the forecast")
    parser.add_argument("--teams", type=int, default=4, help="MyDay demo organisation: teams")
    parser.add_argument("--reps", type=int, default=8, help="MyDay demo organisation: reps per team")
    parser.add_argument("--seed", type=int, default=20260105)
    args = parser.parse_args()
    for tool in ("h2load", "nghttpd", "taskset", "cc"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: run scripts/setup (and apt-get install gcc for the SQLite reference)")
    print(f"benchmarks of {BIN}: {machine_note()}")
    summary: list[str] = []
    failed = []
    for name in args.case or list(CASES):
        with tempfile.TemporaryDirectory(prefix=f"crm-bench-{name}-") as tmp:
            try:
                CASES[name](args, Path(tmp), summary)
            except Exception:  # one broken case must not hide the others' figures
                traceback.print_exc()
                failed.append(name)
                summary.append(f"  case {name}: FAILED (see the traceback above)")
    print("\nSummary (ratios against references measured in this run):")
    print("\n".join(summary))
    if failed:
        sys.exit(f"failed cases: {', '.join(failed)}")


if __name__ == "__main__":
    main()
