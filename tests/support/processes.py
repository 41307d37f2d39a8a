"""Running the real `payments` command in a subprocess, and finding free ports."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
PAYMENTS = str(BIN / "payments")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_payments(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAYMENTS, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
