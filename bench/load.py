"""Load phases: request bodies written for wrk, and one wrk run (``identify.lua``) measured into a
``Phase``."""

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuMeter
from bench.paths import OUT, ROOT

LUA = ROOT / "bench" / "identify.lua"
WRK_THREADS = 2
# Shops calling the service, each with its own API key: requests take the keys in turn.
SHOPS = 64
# The name of the phase on the freshly migrated database (bench.run), which the report looks for.
EMPTY_PHASE = "mix, empty db"


def write_bodies(name: str, requests, count: int) -> Path:
    path = OUT / f"{name}.jsonl"
    with path.open("w") as bodies:
        for _, request in zip(range(count), requests, strict=False):
            bodies.write(request.json() + "\n")
    return path


@dataclass
class Phase:
    name: str
    concurrency: int
    duration: int
    requests_per_second: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    wrk_cpu_percent: float = 0.0
    app_cpu_ms_per_request: float = 0.0
    postgres_cpu_ms_per_request: float = 0.0


def run_wrk(
    *, phase: Phase, bodies: Path, port: int, meter: CpuMeter, api_keys: list[str]
) -> Phase:
    threads = min(WRK_THREADS, phase.concurrency)
    command = [
        shutil.which("wrk") or "wrk",
        f"--threads={threads}",
        f"--connections={phase.concurrency}",
        f"--duration={phase.duration}s",
        "--timeout=5s",
        f"--script={LUA}",
        f"http://127.0.0.1:{port}",
        "--",
        str(bodies),
        str(threads),
        ",".join(api_keys),
    ]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.reset()
    wrk = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    used = meter.used()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = wrk.stdout
    lines = [line for line in output.splitlines() if line.startswith("BENCH ")]
    if wrk.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{output}")
    summary = json.loads(lines[-1].removeprefix("BENCH "))
    seconds = summary["duration_us"] / 1e6
    requests = max(summary["requests"], 1)
    phase.requests_per_second = summary["requests"] / seconds
    phase.p50_ms, phase.p95_ms, phase.p99_ms = (summary[f"p{p}_us"] / 1000 for p in (50, 95, 99))
    phase.errors = sum(
        summary[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    wrk_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    phase.wrk_cpu_percent = 100 * wrk_cpu / seconds
    phase.app_cpu_ms_per_request = 1000 * used["app"] / requests
    phase.postgres_cpu_ms_per_request = 1000 * used["postgres"] / requests
    return phase
