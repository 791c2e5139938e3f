"""A small HTTP/1.1 keep-alive load client on raw asyncio streams (cheap enough not to be
the bottleneck on a shared machine), and the server's CPU time from /proc."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass


@dataclass
class Run:
    requests: int
    seconds: float
    cpu_seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_seconds / max(self.requests, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_bytes(port: int, body: bytes, token: str) -> bytes:
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    return await reader.readexactly(length)


async def fetch(port: int, body: bytes, token: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(port, body, token))
        return await _read_response(reader)
    finally:
        writer.close()


async def load(
    port: int, pid: int, body: bytes, token: str, *, seconds: float, connections: int
) -> Run:
    message = request_bytes(port, body, token)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                writer.write(message)
                await _read_response(reader)
                latencies.append(time.perf_counter() - start)
        finally:
            writer.close()

    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    return Run(len(latencies), elapsed, cpu, latencies)
