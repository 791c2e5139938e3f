"""The real server for tests that need a socket: uvicorn in a subprocess on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import SECRET

START_TIMEOUT = 30  # seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    pid: int = 0  # the uvicorn process, for tests that kill it

    @property
    def graphql(self) -> str:
        return f"{self.url}/graphql"

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running(
    database_url: str, tmp_path: Path, port: int | None = None, **env: str
) -> Iterator[Server]:
    """uvicorn serving create_app() over `database_url`; settings as OWNERGRAPH_* `env`.
    `port`: the same one again to restart a server where its clients knew it."""
    port = port or free_port()
    log = tmp_path / f"server-{port}-{time.monotonic_ns()}.log"
    environ = {
        **os.environ,
        "OWNERGRAPH_DATABASE_URL": database_url,
        "OWNERGRAPH_JWT_SECRET": SECRET,
        "OWNERGRAPH_DATA_DIR": str(tmp_path),
        "OWNERGRAPH_SCHEDULER_INTERVAL_SECONDS": "0",
        **{f"OWNERGRAPH_{k.upper()}": v for k, v in env.items()},
    }
    command = [str(Path(sys.executable).parent / "ownergraph"), "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", log, process.pid)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{server.logged()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def issue_cli_token(database_url: str, tmp_path: Path, email: str = "alice@demo.test") -> str:
    """A token for `email`, issued the way an operator would (the CLI)."""
    environ = {
        **os.environ,
        "OWNERGRAPH_DATABASE_URL": database_url,
        "OWNERGRAPH_JWT_SECRET": SECRET,
        "OWNERGRAPH_DATA_DIR": str(tmp_path),
    }
    command = [str(Path(sys.executable).parent / "ownergraph"), "token", "issue", "--user", email]
    out = subprocess.run(command, env=environ, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]
