"""CPU accounting of processes from ``/proc``: the app server's process tree and the benchmark
database's PostgreSQL backends, measured over a phase by ``CpuMeter``."""

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from its third field (the state) on; empty once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def reaped_cpu_seconds(pid: int) -> float:
    """CPU of the children ``pid`` has waited for: the postmaster's exited backends."""
    fields = stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS if fields else 0.0


def postmaster_pid(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        (backend,) = connection.execute("SELECT pg_backend_pid()").fetchone()
        return int(stat_fields(backend)[1])


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids.extend(process_tree(int(child)))
    return pids


def postgres_backends(url: str) -> list[int]:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
    return [pid for (pid,) in rows]


@dataclass
class CpuMeter:
    """CPU seconds used by the app server's processes and the database's backends over a phase.

    A backend that exits during the phase (a connection replaced) is no longer in ``/proc``: the
    postmaster reaps it and adds its CPU to its children's total, whose growth is counted, less
    what those backends had used before the phase.
    """

    server_pid: int
    database: str
    start: dict[str, dict[int, float]] = field(default_factory=dict)
    reaped_at_start: float = 0.0

    def __post_init__(self) -> None:
        self.postmaster = postmaster_pid(self.database)

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "app": {pid: cpu_seconds(pid) for pid in process_tree(self.server_pid)},
            "postgres": {pid: cpu_seconds(pid) for pid in postgres_backends(self.database)},
        }

    def reset(self) -> None:
        self.start = self.sample()
        self.reaped_at_start = reaped_cpu_seconds(self.postmaster)

    def used(self) -> dict[str, float]:
        """CPU seconds per group since ``reset``; processes that started since count from zero."""
        end = self.sample()
        used = {
            group: sum(seconds - self.start[group].get(pid, 0.0) for pid, seconds in pids.items())
            for group, pids in end.items()
        }
        exited = [pid for pid in self.start["postgres"] if pid not in end["postgres"]]
        used["postgres"] += (
            reaped_cpu_seconds(self.postmaster)
            - self.reaped_at_start
            - sum(self.start["postgres"][pid] for pid in exited)
        )
        return used
