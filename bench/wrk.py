"""The load generator: wrk (Debian's package), a separate process, bounded by duration, loopback only.

Each run gets a Lua script; its `done` hook prints one JSON line with requests/s, latency
percentiles and errors, which is what this module returns.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPORT = r"""
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, errors))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is not installed (make bench installs Debian's wrk package)")
    return found


def run(url: str, script: str, *, seconds: int, connections: int, workdir: Path) -> LoadResult:
    """Run wrk against a loopback URL with one thread for `seconds`."""
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("the benchmark only loads loopback addresses")
    path = workdir / "script.lua"
    path.write_text(script + REPORT)
    done = subprocess.run(
        [
            require_wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(path),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return LoadResult(**json.loads(line.removeprefix("BENCH_JSON ")))
    raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")


def hello_script() -> str:
    return 'wrk.method = "GET"\n'


def webhook_script(requests_file: Path, path: str = "/webhooks/stripe") -> str:
    """Cycle through pre-signed events: the file alternates signature and body lines."""
    return f"""
local signatures, bodies = {{}}, {{}}
local file = io.open("{requests_file}", "r")
while true do
  local signature = file:read("*l")
  if not signature then break end
  signatures[#signatures + 1] = signature
  bodies[#bodies + 1] = file:read("*l")
end
file:close()
local index = 0
request = function()
  index = index % #bodies + 1
  return wrk.format("POST", "{path}",
    {{["Stripe-Signature"] = signatures[index], ["Content-Type"] = "application/json"}}, bodies[index])
end
"""


def plan_status_script(tenants: int, token: str, delay_ms: float = 0.0) -> str:
    """Random tenants' plan status; `delay_ms` paces each connection (for a fixed lower rate)."""
    pacing = f"delay = function() return {delay_ms} end\n" if delay_ms > 0 else ""
    return f"""
math.randomseed(42)
request = function()
  local path = string.format("/internal/payments/tenants/tenant_%05d/plan-status?consumerKey=funnel",
    math.random(0, {tenants - 1}))
  return wrk.format("GET", path, {{["x-platform-internal-token"] = "{token}"}})
end
{pacing}"""
