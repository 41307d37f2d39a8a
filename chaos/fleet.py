"""The processes under test: `payments serve` and `payments worker`, killed and restarted.

Each runs as a child process with its own log; `kill` sends SIGKILL (no chance to release
anything: leases and the unit of work must cover it), `restart` starts it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.processes import free_port, payments


@dataclass
class Member:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def wait_up(member: Member, seconds: float = 30.0) -> None:
    if member.port is None:
        await asyncio.sleep(0.5)
        return
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds / 0.1)):
            try:
                async with http.get(f"{member.url}/health") as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{member.name} did not come up (see {member.log})")


def fleet(env: dict[str, str], work: Path, servers: int, workers: int) -> list[Member]:
    members = []
    for number in range(servers):
        port = free_port()
        members.append(
            Member(
                f"serve-{number}",
                payments("serve", "--port", str(port)),
                {**env, "PORT": str(port)},
                work / f"serve-{number}.log",
                port,
            )
        )
    for number in range(workers):
        members.append(
            Member(f"worker-{number}", payments("worker"), env, work / f"worker-{number}.log")
        )
    return members
