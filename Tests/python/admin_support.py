"""Helpers for the crm-admin tests (no tests here): run the real `crm-admin` binary as a
subprocess against real service processes and real SQLite files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import find_binary
from suite import SERVICE_TOKEN

ADMIN_TIMEOUT_S = 60


@dataclass
class AdminRun:
    argv: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return f"crm-admin {' '.join(self.argv)} -> exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def admin(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
          cwd: Path | None = None, timeout: float = ADMIN_TIMEOUT_S) -> AdminRun:
    """Runs crm-admin with the suite's service token in the environment (as an operator would)."""
    environment = dict(os.environ)
    environment["CRM_SERVICE_TOKEN"] = SERVICE_TOKEN
    for key in ("CRM_TOKEN", "CRM_ADMIN_TOKEN"):
        environment.pop(key, None)
    environment.update(env or {})
    argv = [str(a) for a in args]
    result = subprocess.run([str(find_binary("crm-admin")), *argv], capture_output=True, text=True,
                            env=environment, input=stdin, cwd=cwd, timeout=timeout)
    return AdminRun(argv, result.returncode, result.stdout, result.stderr)


def ok(*args: str, **kwargs) -> AdminRun:
    run = admin(*args, **kwargs)
    assert run.code == 0, run.explain()
    return run


def table_counts(path: Path) -> dict[str, int]:
    """Rows per table of a SQLite file (GRDB's bookkeeping excluded)."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'grdb_migrations'")]
        return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


def applied_migrations(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT identifier FROM grdb_migrations ORDER BY identifier")]


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def insert_row(db: sqlite3.Connection, table: str, **values) -> None:
    """Inserts a row giving every NOT NULL column without a default a neutral value (0 / ''),
    so a test can write rows in an old schema without restating every column."""
    columns = db.execute(f'PRAGMA table_info("{table}")').fetchall()
    row = {}
    for _, name, kind, notnull, default, _pk in columns:
        if name in values:
            row[name] = values[name]
        elif notnull and default is None:
            row[name] = 0 if "INT" in (kind or "").upper() or "REAL" in (kind or "").upper() else ""
    unknown = set(values) - {c[1] for c in columns}
    assert not unknown, f"{table} has no columns {unknown}"
    names = ", ".join(f'"{n}"' for n in row)
    marks = ", ".join("?" for _ in row)
    db.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(row.values()))
