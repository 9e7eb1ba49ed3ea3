"""FlickrHub's API enqueue path in one process, without the HTTP server.

``POST /api/v1/flickr/rest`` requests, 16 at a time, handed to the API's ASGI app as
uvicorn would hand them (after its HTTP parsing): validation, the owner check, the job
record saved to Redis, the persistent, confirmed publish to RabbitMQ, the two log
lines, the metrics. What it leaves out is the HTTP server (uvicorn's parser, the
sockets). Run by ``harness.py --modes apipath`` (settings from its environment, the
bench user's token already stored; no worker runs, so the queue just fills).

It prints one JSON line, as ``jobpath.py`` does: the CPU time of this process per
request for each measured round, and under ``--callgrind`` (the harness starts it
under ``valgrind --tool=callgrind --instr-atstart=no``) the last round's
instructions, dumped for the harness to read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jobpath import BENCH_USER, IN_FLIGHT, command, timed_round

PATH = "/api/v1/flickr/rest"


async def post(app: Any, body: bytes) -> int:
    """One request through the ASGI app; its status code."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    done = asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    return status


async def run(requests: int, rounds: int, look: bool) -> dict[str, object]:
    import gc

    from flickrhub_api import create_app
    from flickrhub_core.cli.app import setup_logging
    from flickrhub_core.runtime import Runtime
    from flickrhub_core.settings import load_settings

    settings = load_settings()
    setup_logging(settings)
    runtime = Runtime.create(settings, role="api")
    await runtime.start()
    app = create_app(runtime, manage_runtime=False)
    try:
        async with app.test_app():  # the app's startup and shutdown, as uvicorn's lifespan
            gc.collect()
            gc.freeze()  # as the api command does once it serves
            slots = asyncio.Semaphore(IN_FLIGHT)
            statuses: dict[str, int] = {}

            async def one(i: int, round_number: int) -> None:
                body = {
                    "method": "flickr.test.echo",
                    "user_id": BENCH_USER,
                    "params": {"name": f"api-{round_number}-{i}"},
                    "cache": False,
                }
                async with slots:
                    status = await post(app, json.dumps(body).encode())
                statuses[str(status)] = statuses.get(str(status), 0) + 1

            per_request_us: list[float] = []
            for round_number in range(rounds + 1):
                cost = await timed_round(
                    asyncio.gather(*(one(i, round_number) for i in range(requests))),
                    requests,
                    counted=look and round_number == rounds,
                )
                if round_number:
                    per_request_us.append(cost)
        return {
            "jobs": requests,
            "rounds": rounds,
            "cpu_us_per_job": per_request_us,
            "outcomes": statuses,
        }
    finally:
        await runtime.close()


if __name__ == "__main__":
    command(run, __doc__ or "")
