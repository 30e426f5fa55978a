"""Clients that misbehave, for benchmarks/reliability.py: slow and idle connections,
and bodies built to break a parser or a validator.

Every body here must be refused with a 4xx naming what is wrong, never a 5xx,
and the service must answer /health afterwards.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
from load import JSON, V1, Load, Service

V2 = "/v2/predict"
MIB = 2**20


def _post_slowly(host: str, port: int, body: bytes, pause: float, out: list[int]) -> None:
    """Send a v1 request with its body one byte at a time; append the status (0: none)."""
    head = (f"POST {V1} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    status = 0
    try:
        with socket.create_connection((host, port), timeout=60) as sock:
            sock.sendall(head)
            for i in range(len(body)):
                sock.sendall(body[i:i + 1])
                time.sleep(pause)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except OSError:
        pass
    out.append(status)


def slow_clients(service: Service, bodies: list[bytes], seconds: float, idle: int = 200,
                 slow: int = 16) -> tuple[str, str, bool]:
    """Others are served while `idle` connections sit open and `slow` clients dribble."""
    with Load(service.base, bodies, 2) as before:
        time.sleep(min(seconds / 2, 3))
    host, port = "127.0.0.1", service.port
    sockets = [socket.create_connection((host, port), timeout=10) for _ in range(idle)]
    statuses: list[int] = []
    body = bodies[0]
    pause = seconds * 0.8 / len(body)
    dribblers = [threading.Thread(target=_post_slowly, args=(host, port, body, pause, statuses),
                                  daemon=True) for _ in range(slow)]
    with Load(service.base, bodies, 2) as during:
        for thread in dribblers:
            thread.start()
        for thread in dribblers:
            thread.join(timeout=seconds * 3 + 30)
    still_open = sum(_answers_health(s, host) for s in sockets)
    for s in sockets:
        s.close()
    answered = sum(1 for s in statuses if s == 200)
    done = (f"{idle} idle connections open and {slow} clients sending a {len(body)}-byte body "
            f"a byte every {pause * 1e3:.0f} ms, while 2 others post")
    figure = (f"others: {during.ok:,} answered, {during.failed} failed, p50/p99 "
              f"{during.percentile(50):.1f}/{during.percentile(99):.1f} ms (before: "
              f"{before.percentile(50):.1f}/{before.percentile(99):.1f} ms); slow bodies "
              f"answered 200: {answered}/{slow}; idle connections served afterwards: "
              f"{still_open}/{idle}")
    passed = (during.failed == 0 and during.ok > 0 and during.percentile(99) < 1000
              and service.alive())
    return done, figure, passed


def _answers_health(sock: socket.socket, host: str) -> bool:
    """Whether a connection left idle is still served (a server may also close it)."""
    try:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def hostile_bodies(house: dict[str, Any], integer: str | None) -> list[tuple[str, str, Any,
                                                                             dict[str, str]]]:
    """(name, path, body, headers) of every hostile request; `house` is a valid house."""
    good = json.dumps([house]).encode()
    first = next(iter(house))

    def with_value(raw: str, field: str = first) -> bytes:
        return json.dumps([{**house, field: "@@"}]).replace('"@@"', raw).encode()

    def fifty_mib() -> Iterator[bytes]:
        yield b"["
        for _ in range(50):
            yield b" " * MIB
        yield b"]"

    deep = 100_000
    cases: list[tuple[str, str, Any, dict[str, str]]] = [
        ("deep nesting, 100,000 lists", V1, b"[" * deep + b"]" * deep, JSON),
        ("deep nesting, 100,000 objects", V1, b'[{"a":' * deep + b"1" + b"}]" * deep, JSON),
        ("deep nesting under v2 instances", V2,
         b'{"instances":' + b"[" * deep + b"]" * deep + b"}", JSON),
        ("50 MB body, Content-Length", V1, b"[" + b" " * (50 * MIB) + b"]", JSON),
        ("50 MB body, chunked", V1, fifty_mib(), JSON),
        (f"{first} = 1e400", V1, with_value("1e400"), JSON),
        (f"{first} = -1e400", V2, b'{"instances":' + with_value("-1e400") + b"}", JSON),
        (f"{first} = 10**400 written out", V1, with_value("1" + "0" * 400), JSON),
        (f"{first} = a 100,000-digit number", V1, with_value("9" * 100_000), JSON),
        (f"{first} = NaN", V1, with_value("NaN"), JSON),
        ("level = 1e400", V2, b'{"instances":' + good + b',"level":1e400}', JSON),
        ("Content-Type text/plain", V1, good, {"Content-Type": "text/plain"}),
        ("Content-Type form-urlencoded", V1, good,
         {"Content-Type": "application/x-www-form-urlencoded"}),
        ("Content-Type multipart", V2, b'{"instances":' + good + b"}",
         {"Content-Type": "multipart/form-data; boundary=x"}),
        ("invalid UTF-8 in a key", V1, good.replace(b"{", b'{"\xff\xfe": 1, ', 1), JSON),
        ("invalid UTF-8 in a string", V2, b'{"instances":' + good + b',"explain":"\xc3\x28"}',
         JSON),
        ("empty body", V1, b"", JSON),
        ("a JSON string, not a list", V1, b'"houses"', JSON),
    ]
    if integer is not None:
        cases.insert(8, (f"{integer} (integer) = 10**400", V1,
                         with_value("1" + "0" * 400, integer), JSON))
    return cases


def hostile(service: Service, house: dict[str, Any],
            integer: str | None) -> list[tuple[str, str, str, bool]]:
    """One row per hostile body: (check, done, figure, passed)."""
    rows = []
    for name, path, body, headers in hostile_bodies(house, integer):
        with httpx.Client(base_url=service.base, timeout=120) as client:
            try:
                answer = client.post(path, content=body, headers=headers)
                status = answer.status_code
                said = _message(answer)
            except httpx.HTTPError as err:  # the server may cut a body it has refused
                status, said = 0, f"{type(err).__name__}: {err}"
        up = service.served() is not None
        figure = f"{status or 'no answer'} {said[:90]}; still up: {'yes' if up else 'NO'}"
        rows.append((f"hostile: {name}", f"POST {path}", figure, 400 <= status < 500 and up))
    return rows


def _message(answer: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        body = answer.json()
        if isinstance(body, dict) and "message" in body:
            return f"{body.get('error')}: {body['message']}"
    return answer.text
