"""FlickrHub's benchmark against its peers, on one machine, in one run.

Start it through ``bench/run`` (which makes ``bench/.venv``); ``bench/README.md``
explains the modes, the setup and how to read the table. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pickle
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import psutil
from redis.asyncio import Redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
VENV_BIN = Path(sys.executable).parent
VHOST = "flickrhub-bench"
RABBIT_BASE = os.environ.get("BENCH_RABBIT", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_DB = 14
REDIS_URL = os.environ.get("BENCH_REDIS", f"redis://127.0.0.1:6379/{REDIS_DB}")
FH_PREFIX = "flickrhub:"
BENCH_USER = "bench-user"
#: Variables no bench process inherits from the shell (FlickrHub's settings among them).
INHERITED = (
    "FLICKR",
    "RABBIT_",
    "REDIS_",
    "MONGO_",
    "PORT",
    "SAVE_",
    "JOB_",
    "CACHE_",
    "WORKER_",
    "OBS_",
    "CALLBACK_",
    "BENCH_",
)
SAMPLE_EVERY = 0.1
#: Steady mode: publishes in the first seconds (connections opening) are not counted.
WARMUP = 2.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- services: a vhost of our own, Redis DB 14 --------------------------------------------


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )


def rabbit_url() -> str:
    return RABBIT_BASE.rstrip("/") + "/" + VHOST


def reset_vhost() -> None:
    rabbitmqctl("delete_vhost", VHOST)
    made = rabbitmqctl("add_vhost", VHOST)
    if made.returncode != 0:
        raise SystemExit(f"rabbitmqctl add_vhost {VHOST} failed: {made.stderr.strip()}")
    granted = rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    if granted.returncode != 0:
        raise SystemExit(f"rabbitmqctl set_permissions failed: {granted.stderr.strip()}")


def drop_vhost() -> None:
    rabbitmqctl("delete_vhost", VHOST)


async def flushdb() -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(INHERITED)}
    env["PYTHONPATH"] = str(BENCH)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- processes -----------------------------------------------------------------------------


class Proc:
    """A process this harness started (its own session, so its children go with it)."""

    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, logdir: Path
    ) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        out = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.ps = psutil.Process(self.popen.pid)

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return []

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGINT)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        # Children of a prefork pool that outlived their parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def rss_of(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def infra_processes(standin: Proc) -> list[psutil.Process]:
    found = [standin.ps]
    for p in psutil.process_iter(["name", "cmdline"]):
        name = p.info["name"] or ""
        if name.startswith("beam.smp") or name.startswith("redis-server"):
            found.append(p)
    return found


# --- systems -------------------------------------------------------------------------------


@dataclass
class Context:
    """What one bench invocation shares: the stand-in, the secret, options."""

    standin_url: str
    standin: Proc
    workdir: Path
    concurrency: int
    secret_key: str
    infra: list[psutil.Process] = field(default_factory=list)

    def common_env(self) -> dict[str, str]:
        env = base_env()
        env.update(
            BENCH_RABBIT_URL=rabbit_url(),
            BENCH_REDIS_URL=REDIS_URL,
            BENCH_STANDIN=self.standin_url,
            BENCH_CONCURRENCY=str(self.concurrency),
        )
        return env

    def fh_env(self, data_dir: Path, *, log_level: str = "info", **extra: str) -> dict[str, str]:
        env = self.common_env()
        s = self.standin_url
        env.update(
            RABBIT_URL=rabbit_url(),
            REDIS_URL=REDIS_URL,
            FLICKRHUB_SECRET_KEY=self.secret_key,
            FLICKRHUB_PLUGINS="rest,upload,replace,redis,local",
            FLICKRHUB_DATA_DIR=str(data_dir),
            FLICKR_REST_URL=f"{s}/services/rest/",
            FLICKR_UPLOAD_URL=f"{s}/services/upload/",
            FLICKR_REPLACE_URL=f"{s}/services/replace/",
            FLICKR_OAUTH_URL=f"{s}/services/oauth",
            FLICKR_RATE_LIMIT_PER_HOUR="0",
            CACHE_ENABLED="false",
            FLICKRHUB_QUEUE_TYPE="classic",
            FLICKRHUB_LOG_FORMAT="json",
            FLICKRHUB_LOG_LEVEL=log_level,
            FLICKRHUB_MAX_PENDING_JOBS="0",
            FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE="0",
            WORKER_CONCURRENCY=str(self.concurrency),
        )
        env.update(extra)
        return env


@dataclass
class System:
    """One configuration under test."""

    key: str  # table label
    kind: str  # bare | flickrhub | celery | dramatiq | taskiq
    procs: int = 1  # processes as the system counts them (for the "same process count")
    label: str = ""
    targets: tuple[str, ...] = ("rest",)

    @property
    def queue(self) -> str:
        return "flickr_rest" if self.kind == "flickrhub" else f"bench_jobs_{self.kind}"

    @property
    def expected_consumers(self) -> int:
        return {"celery": 1}.get(self.kind, self.procs)

    def worker_cmds(self, ctx: Context) -> list[list[str]]:
        c = str(ctx.concurrency)
        if self.kind == "bare":
            return [[PY, "-m", "peers.bare"] for _ in range(self.procs)]
        if self.kind == "flickrhub":
            cmd = [PY, str(BENCH / "fh_launch.py"), "worker", "--concurrency", c]
            for target in self.targets:
                cmd += ["--target", target]
            return [cmd for _ in range(self.procs)]
        if self.kind == "celery":
            return [
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "peers.celery_app",
                    "worker",
                    "--pool",
                    "prefork",
                    "--concurrency",
                    str(self.procs),
                    "--loglevel",
                    "WARNING",
                    "-Q",
                    self.queue,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ]
            ]
        if self.kind == "dramatiq":
            return [
                [
                    str(VENV_BIN / "dramatiq"),
                    "peers.dramatiq_app",
                    "--processes",
                    str(self.procs),
                    "--threads",
                    "8",
                ]
            ]
        if self.kind == "taskiq":
            return [
                [
                    str(VENV_BIN / "taskiq"),
                    "worker",
                    "peers.taskiq_app:broker",
                    "--workers",
                    str(self.procs),
                    "--max-async-tasks",
                    c,
                    "--log-level",
                    "WARNING",
                ]
            ]
        raise ValueError(self.kind)


def systems_for(names: list[str]) -> list[System]:
    catalogue = {
        "bare": System("bare ×1", "bare", 1, label="bare aio-pika consumer (ceiling), 1 process"),
        "bare2": System(
            "bare ×2", "bare", 2, label="bare aio-pika consumer (ceiling), 2 processes"
        ),
        "flickrhub": System(
            "FlickrHub worker ×1", "flickrhub", 1, label="FlickrHub worker, 1 process"
        ),
        "flickrhub2": System(
            "FlickrHub worker ×2", "flickrhub", 2, label="FlickrHub worker, 2 processes"
        ),
        "celery": System("Celery prefork 4", "celery", 4, label="Celery 5, prefork × 4"),
        "dramatiq": System(
            "Dramatiq 2×8", "dramatiq", 2, label="Dramatiq, 2 processes × 8 threads"
        ),
        "taskiq": System("taskiq ×2", "taskiq", 2, label="taskiq, 2 worker processes"),
    }
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise SystemExit(f"unknown system(s) {unknown}; choose from {sorted(catalogue)}")
    return [catalogue[n] for n in names]


PEERS = ("celery", "dramatiq", "taskiq")


# --- per-run helpers -----------------------------------------------------------------------


@dataclass
class RunDir:
    path: Path
    data: Path
    logs: Path


def new_run_dir(ctx: Context, name: str) -> RunDir:
    path = Path(tempfile.mkdtemp(prefix=f"{name.replace(' ', '_')}-", dir=ctx.workdir))
    data = path / "data"
    data.mkdir(mode=0o700)
    logs = path / "logs"
    logs.mkdir()
    return RunDir(path, data, logs)


async def prepare(ctx: Context, system_kind: str, run: RunDir) -> None:
    """A clean vhost and Redis DB; for FlickrHub, the bench user's token."""
    await asyncio.to_thread(reset_vhost)
    await flushdb()
    if system_kind == "flickrhub":
        env = ctx.fh_env(run.data, log_level="warning")
        done = await asyncio.to_thread(
            subprocess.run,
            [PY, str(BENCH / "publisher.py"), "--setup-token"],
            env=env,
            cwd=run.path,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"token setup failed: {done.stderr[-2000:]}")


async def publish(ctx: Context, system: System, run: RunDir, n: int, rate: float) -> dict[str, Any]:
    out = run.path / f"publish-{time.monotonic_ns()}.json"
    env = (
        ctx.fh_env(run.data, log_level="warning")
        if system.kind == "flickrhub"
        else ctx.common_env()
    )
    cmd = [
        PY,
        str(BENCH / "publisher.py"),
        "--system",
        system.kind,
        "--n",
        str(n),
        "--rate",
        str(rate),
        "--out",
        str(out),
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=env,
        cwd=run.path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"publisher for {system.kind} failed:\n{output.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def start_workers(ctx: Context, system: System, run: RunDir) -> list[Proc]:
    env = ctx.fh_env(run.data) if system.kind == "flickrhub" else ctx.common_env()
    cwd = run.path if system.kind == "flickrhub" else BENCH
    return [
        Proc(f"worker{i}", cmd, env, cwd, run.logs) for i, cmd in enumerate(system.worker_cmds(ctx))
    ]


def start_apis(ctx: Context, run: RunDir, count: int) -> tuple[list[Proc], list[str]]:
    procs, urls = [], []
    for i in range(count):
        port = free_port()
        env = ctx.fh_env(run.data)
        cmd = [PY, str(BENCH / "fh_launch.py"), "api", "--host", "127.0.0.1", "--port", str(port)]
        procs.append(Proc(f"api{i}", cmd, env, run.path, run.logs))
        urls.append(f"http://127.0.0.1:{port}")
    return procs, urls


async def wait_http(urls: list[str], procs: list[Proc], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        for url, proc in zip(urls, procs, strict=True):
            while True:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} not answering:\n{proc.tail()}")
                await asyncio.sleep(0.1)


async def consumers_on(queue: str) -> int:
    connection = await aio_pika.connect(rabbit_url())
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            return int(declared.declaration_result.consumer_count or 0)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return 0
    finally:
        await connection.close()


async def wait_consumers(system: System, workers: list[Proc], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for w in workers:
            if not w.alive():
                raise RuntimeError(f"{system.key}: {w.name} exited:\n{w.tail()}")
        if await consumers_on(system.queue) >= system.expected_consumers:
            await asyncio.sleep(1.0)  # let pools (prefork children, threads) settle
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{system.key}: consumers not up:\n{workers[0].tail()}")
        await asyncio.sleep(0.2)


class Progress:
    """How many jobs have finished, read cheaply (DBSIZE, or FlickrHub's pending set)."""

    def __init__(self, system_kind: str, redis: Redis) -> None:
        self.kind = system_kind
        self.redis = redis
        self.base = 0
        self.total = 0

    async def arm(self, total: int) -> None:
        """Call once the jobs to wait for are known (FlickrHub: after they were enqueued)."""
        self.total = total
        if self.kind != "flickrhub":
            self.base = int(await self.redis.dbsize())

    async def done(self) -> int:
        if self.kind == "flickrhub":
            pending = int(await self.redis.scard(f"{FH_PREFIX}pending:default"))
            return self.total - pending
        return int(await self.redis.dbsize()) - self.base


@dataclass
class Sample:
    t: float
    done: int
    cpu_workers: float
    cpu_infra: float


class Monitor:
    """Samples RSS (peak) of the watched processes every ``SAMPLE_EVERY`` seconds."""

    def __init__(self, groups: dict[str, list[Proc]]) -> None:
        self.groups = groups
        self.peak: dict[str, int] = dict.fromkeys(groups, 0)
        self.series: dict[str, list[tuple[float, int]]] = {k: [] for k in groups}
        self._task: asyncio.Task[None] | None = None

    def procs(self, group: str) -> list[psutil.Process]:
        return [p for proc in self.groups[group] for p in proc.tree()]

    def sample(self) -> None:
        now = time.time()
        for group in self.groups:
            rss = rss_of(self.procs(group))
            self.peak[group] = max(self.peak[group], rss)
            self.series[group].append((now, rss))

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_EVERY)

    def __enter__(self) -> Monitor:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


class MachineBusy:
    """Whole-machine CPU use over a window, in cores (this bench's processes included):
    on a shared machine it shows how much others were running at the same time."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.c0 = psutil.cpu_times()
        self.value: float | None = None

    @staticmethod
    def _busy(c: Any) -> float:
        return float(sum(c) - c.idle - getattr(c, "iowait", 0.0))

    def stop(self) -> float:
        c1 = psutil.cpu_times()
        self.value = (self._busy(c1) - self._busy(self.c0)) / max(1e-9, time.time() - self.t0)
        return self.value

    def result(self) -> float | None:
        return self.value


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": pct(ms, 0.5),
        "p95": pct(ms, 0.95),
        "p99": pct(ms, 0.99),
        "max": max(ms) if ms else float("nan"),
        "count": len(ms),
    }


# --- collecting results from Redis -----------------------------------------------------------


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _scan_values(redis: Redis, pattern: str, kind: str = "string") -> list[bytes]:
    keys = [k async for k in redis.scan_iter(match=pattern, count=2000)]
    values: list[bytes] = []
    for i in range(0, len(keys), 1000):
        batch = keys[i : i + 1000]
        if kind == "string":
            values += [v for v in await redis.mget(batch) if v is not None]
        else:
            pipe = redis.pipeline(transaction=False)
            for key in batch:
                pipe.lindex(key, 0)
            values += [v for v in await pipe.execute() if v is not None]
    return values


def _from_result(value: Any) -> tuple[float, float] | None:
    if isinstance(value, dict):
        if "t_done" in value:
            return float(value["t_pub"]), float(value["t_done"])
        for inner in ("result", "return_value"):
            if inner in value:
                return _from_result(value[inner])
    inner_value = getattr(value, "return_value", None)
    if inner_value is not None:
        return _from_result(inner_value)
    return None


async def collect(kind: str, redis: Redis) -> tuple[list[tuple[float, float]], dict[str, int]]:
    """(publish time, done time) of every finished job, and counts by outcome."""
    pairs: list[tuple[float, float]] = []
    counts: dict[str, int] = {}
    if kind == "flickrhub":
        for raw in await _scan_values(redis, f"{FH_PREFIX}job:*"):
            job = json.loads(raw)
            counts[job["state"]] = counts.get(job["state"], 0) + 1
            created, finished = _ts(job.get("created_at")), _ts(job.get("finished_at"))
            if job["state"] == "completed" and created and finished:
                pairs.append((created, finished))
        return pairs, counts
    pattern, shape = {
        "bare": ("bench:result:*", "string"),
        "celery": ("celery-task-meta-*", "string"),
        "dramatiq": ("dramatiq-results:*", "list"),
        "taskiq": ("taskiq:*", "string"),
    }[kind]
    for raw in await _scan_values(redis, pattern, shape):
        try:
            value: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            value = pickle.loads(raw)  # noqa: S301 - our own taskiq results in our own DB
        if isinstance(value, dict) and value.get("status") not in (None, "SUCCESS"):
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        if getattr(value, "is_err", False):
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        pair = _from_result(value)
        if pair is not None:
            pairs.append(pair)
            counts["completed"] = counts.get("completed", 0) + 1
    return pairs, counts


# --- modes -----------------------------------------------------------------------------------


async def wait_done(
    progress: Progress, n: int, workers: list[Proc], timeout: float, on_sample: Any = None
) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    while True:
        done = await progress.done()
        if on_sample is not None:
            on_sample(done)
        if done >= n:
            return done
        if time.monotonic() > deadline:
            return done
        if not any(w.alive() for w in workers):
            raise RuntimeError(f"all workers exited:\n{workers[0].tail()}")
        await asyncio.sleep(SAMPLE_EVERY)


async def drain_run(ctx: Context, system: System, n: int) -> dict[str, Any]:
    """Fill the queue with N jobs, then start the workers and time the drain between
    2 % and 100 % done (startup excluded)."""
    run = new_run_dir(ctx, system.key)
    await prepare(ctx, system.kind, run)
    pub = await publish(ctx, system, run, n, 0)
    redis = Redis.from_url(REDIS_URL)
    progress = Progress(system.kind, redis)
    await progress.arm(n)
    workers = start_workers(ctx, system, run)
    first: Sample | None = None
    last: Sample | None = None
    busy = MachineBusy()
    try:
        with Monitor({"workers": workers}) as monitor:
            threshold = max(1, int(n * 0.02))

            def on_sample(done: int) -> None:
                nonlocal first, last
                s = Sample(time.time(), done, cpu_of(monitor.procs("workers")), cpu_of(ctx.infra))
                if first is None and done >= threshold:
                    first = s
                last = s

            done = await wait_done(
                progress, n, workers, timeout=max(120.0, n / 20), on_sample=on_sample
            )
            peak = monitor.peak["workers"]
        busy.stop()
        _, counts = await collect(system.kind, redis)
    finally:
        for w in workers:
            w.stop()
        await redis.aclose()
    assert first is not None and last is not None
    jobs = last.done - first.done
    elapsed = last.t - first.t
    ok = done >= n
    return {
        "mode": "drain",
        "system": system.key,
        "n": n,
        "complete": ok,
        "done": done,
        "outcomes": counts,
        "jobs_per_s": jobs / elapsed if elapsed > 0 else float("nan"),
        "cpu_per_1k": (last.cpu_workers - first.cpu_workers) / jobs * 1000 if jobs else None,
        "infra_cpu_per_1k": (last.cpu_infra - first.cpu_infra) / jobs * 1000 if jobs else None,
        "peak_rss_mb": peak / 2**20,
        "machine_busy": busy.result(),
        "publish_s": pub["seconds"],
        "publish_cpu_per_1k": pub["cpu_seconds"] / n * 1000,
        "enqueue": latency_summary(pub["latencies"]),
        "logs": str(run.path),
    }


async def steady_run(ctx: Context, system: System, rate: float, seconds: float) -> dict[str, Any]:
    """Workers up and idle; publish at ``rate`` for ``seconds``; publish → done latency."""
    run = new_run_dir(ctx, system.key)
    await prepare(ctx, system.kind, run)
    n = int(rate * seconds)
    redis = Redis.from_url(REDIS_URL)
    workers = start_workers(ctx, system, run)
    try:
        await wait_consumers(system, workers)
        progress = Progress(system.kind, redis)
        await progress.arm(0)
        cpu0 = cpu_of([p for w in workers for p in w.tree()])
        busy = MachineBusy()
        with Monitor({"workers": workers}) as monitor:
            pub = await publish(ctx, system, run, n, rate)
            progress.total = n
            done = await wait_done(progress, n, workers, timeout=max(60.0, n / 20))
            peak = monitor.peak["workers"]
        busy.stop()
        cpu1 = cpu_of([p for w in workers for p in w.tree()])
        pairs, counts = await collect(system.kind, redis)
    finally:
        for w in workers:
            w.stop()
        await redis.aclose()
    t_first = min((p for p, _ in pairs), default=0.0)
    steady_pairs = [(p, d) for p, d in pairs if p - t_first >= WARMUP]
    return {
        "mode": "steady",
        "system": system.key,
        "rate": rate,
        "n": n,
        "done": done,
        "complete": done >= n,
        "outcomes": counts,
        "e2e": latency_summary([d - p for p, d in steady_pairs]),
        "e2e_with_warmup": latency_summary([d - p for p, d in pairs]),
        "series": sorted((round(p - t_first, 4), round((d - p) * 1000, 2)) for p, d in pairs),
        "machine_busy": busy.result(),
        "enqueue": latency_summary(pub["latencies"]),
        "cpu_per_1k": (cpu1 - cpu0) / max(1, done) * 1000,
        "peak_rss_mb": peak / 2**20,
        "logs": str(run.path),
    }


# --- through the HTTP API --------------------------------------------------------------------


async def post_jobs(
    urls: list[str],
    n: int,
    *,
    rate: float = 0.0,
    concurrency: int = 64,
    deadline: float | None = None,
    max_connections: int = 0,
) -> tuple[list[float], dict[str, float], int]:
    """POST /api/v1/flickr/rest N times (round-robin over ``urls``): closed loop with
    ``concurrency`` in flight, or open loop at ``rate`` (latency from the scheduled
    time). An open loop opens as many connections as requests are in flight, unless
    ``max_connections`` bounds them (past it, requests wait in the client, late).
    Returns latencies, job_id → send time, and the number of non-202 answers."""
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    errors = 0
    connector = aiohttp.TCPConnector(limit=(max_connections if rate else concurrency))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int, scheduled: float) -> None:
            nonlocal errors
            body = {
                "method": "flickr.test.echo",
                "user_id": BENCH_USER,
                "params": {"name": f"api-{i}"},
                "cache": False,
            }
            try:
                async with session.post(
                    f"{urls[i % len(urls)]}/api/v1/flickr/rest", json=body
                ) as resp:
                    payload = await resp.json(content_type=None)
                    if resp.status != 202:
                        errors += 1
                        return
            except (TimeoutError, aiohttp.ClientError):
                errors += 1
                return
            latencies.append(time.time() - scheduled)
            sent_at[payload["data"]["job_id"]] = scheduled

        if rate <= 0:
            sem = asyncio.Semaphore(concurrency)

            async def bounded(i: int) -> None:
                async with sem:
                    await one(i, time.time())

            await asyncio.gather(*(bounded(i) for i in range(n)))
        else:
            start = time.time()
            tasks = []
            for i in range(n):
                scheduled = start + i / rate
                if deadline is not None and scheduled > deadline:
                    break
                delay = scheduled - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, scheduled)))
            await asyncio.gather(*tasks)
    return latencies, sent_at, errors


async def api_run(
    ctx: Context,
    n: int,
    apis: int,
    workers_n: int,
    *,
    rate: float = 0.0,
) -> dict[str, Any]:
    """API processes + worker processes; the load generator posts N jobs (closed loop,
    or at ``rate``); throughput from the first request to the last job done."""
    system = System(f"FlickrHub API ×{apis} + worker ×{workers_n}", "flickrhub", workers_n)
    run = new_run_dir(ctx, "api")
    await prepare(ctx, "flickrhub", run)
    redis = Redis.from_url(REDIS_URL)
    api_procs, urls = start_apis(ctx, run, apis)
    workers = start_workers(ctx, system, run)
    try:
        await wait_http(urls, api_procs)
        await wait_consumers(system, workers)
        progress = Progress("flickrhub", redis)
        await progress.arm(n)
        everything = api_procs + workers
        cpu0 = cpu_of([p for w in everything for p in w.tree()])
        infra0 = cpu_of(ctx.infra)
        loadgen0 = time.process_time()
        busy = MachineBusy()
        with Monitor({"api": api_procs, "workers": workers}) as monitor:
            t0 = time.time()
            latencies, sent_at, errors = await post_jobs(urls, n, rate=rate)
            progress.total = n - errors
            done = await wait_done(progress, n - errors, workers, timeout=max(120.0, n / 20))
            t1 = time.time()
            peaks = dict(monitor.peak)
        busy.stop()
        cpu1 = cpu_of([p for w in everything for p in w.tree()])
        infra1 = cpu_of(ctx.infra)
        loadgen_cpu = time.process_time() - loadgen0
        finished: dict[str, float] = {}
        for raw in await _scan_values(redis, f"{FH_PREFIX}job:*"):
            job = json.loads(raw)
            if job["state"] == "completed":
                finished[job["id"]] = _ts(job["finished_at"]) or 0.0
    finally:
        for p in workers + api_procs:
            p.stop()
        await redis.aclose()
    t_first = min(sent_at.values(), default=0.0)
    warm = WARMUP if rate > 0 else 0.0
    e2e = [finished[j] - t for j, t in sent_at.items() if j in finished and t - t_first >= warm]
    return {
        "mode": "api" if rate <= 0 else "api-steady",
        "system": system.key,
        "n": n,
        "rate": rate,
        "done": done,
        "errors": errors,
        "complete": done >= n - errors and not errors,
        "jobs_per_s": done / (t1 - t0),
        "machine_busy": busy.result(),
        "cpu_per_1k": (cpu1 - cpu0) / max(1, done) * 1000,
        "infra_cpu_per_1k": (infra1 - infra0) / max(1, done) * 1000,
        "loadgen_cpu_per_1k": loadgen_cpu / max(1, done) * 1000,
        "peak_rss_mb": (peaks["api"] + peaks["workers"]) / 2**20,
        "enqueue": latency_summary(latencies),
        "e2e": latency_summary(e2e),
        "logs": str(run.path),
    }


async def enqueue_run(ctx: Context, rate: float, seconds: float, apis: int) -> dict[str, Any]:
    """API alone (no worker: the queue just fills) at an open-loop ``rate``."""
    run = new_run_dir(ctx, "enqueue")
    await prepare(ctx, "flickrhub", run)
    api_procs, urls = start_apis(ctx, run, apis)
    try:
        await wait_http(urls, api_procs)
        # Warm up (connections, first declarations) outside the measurement.
        await post_jobs(urls, 200, concurrency=8)
        n = int(rate * seconds)
        cpu0 = cpu_of([p for w in api_procs for p in w.tree()])
        busy = MachineBusy()
        latencies, _, errors = await post_jobs(urls, n, rate=rate)
        busy.stop()
        cpu1 = cpu_of([p for w in api_procs for p in w.tree()])
    finally:
        for p in api_procs:
            p.stop()
    return {
        "mode": "enqueue",
        "system": f"FlickrHub API ×{apis}",
        "rate": rate,
        "n": n,
        "errors": errors,
        "enqueue": latency_summary(latencies),
        "machine_busy": busy.result(),
        "cpu_per_1k": (cpu1 - cpu0) / max(1, n) * 1000,
        "logs": str(run.path),
    }


async def upload_run(ctx: Context, size_mb: int) -> dict[str, Any]:
    """One photo of ``size_mb`` MB through POST /upload to the stand-in: peak RSS of the
    API and of the worker above their idle level."""
    run = new_run_dir(ctx, "upload")
    await prepare(ctx, "flickrhub", run)
    redis = Redis.from_url(REDIS_URL)
    api_procs, urls = start_apis(ctx, run, 1)
    workers = start_workers(ctx, System("upload", "flickrhub", 1, targets=("rest", "upload")), run)
    try:
        await wait_http(urls, api_procs)
        await asyncio.sleep(2.0)
        # Warm both processes with a few REST jobs, then take the idle level.
        await post_jobs(urls, 50, concurrency=4)
        await asyncio.sleep(2.0)
        idle = {
            "api": rss_of([p for a in api_procs for p in a.tree()]),
            "worker": rss_of([p for w in workers for p in w.tree()]),
        }
        size = size_mb * 1_000_000
        chunk = b"\xff\xd8\xff\xe0" + os.urandom(1024 * 1024 - 4)

        async def photo() -> Any:
            sent = 0
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                sent += len(piece)
                yield piece

        with Monitor({"api": api_procs, "worker": workers}) as monitor:
            t0 = time.time()
            form = aiohttp.FormData()
            form.add_field("user_id", BENCH_USER)
            form.add_field("title", "bench upload")
            form.add_field("photo", photo(), filename="big.jpg", content_type="image/jpeg")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as s:
                async with s.post(f"{urls[0]}/api/v1/flickr/upload", data=form) as resp:
                    payload = await resp.json(content_type=None)
                    if resp.status != 202:
                        raise RuntimeError(f"upload refused: {resp.status} {payload}")
                t_api = time.time()
                job_id = payload["data"]["job_id"]
                state = "queued"
                while state not in ("completed", "failed"):
                    async with s.get(
                        f"{urls[0]}/api/v1/flickr/jobs/{job_id}", params={"wait": "10"}
                    ) as resp:
                        state = (await resp.json(content_type=None))["data"]["state"]
                    if time.time() - t0 > 900:
                        raise RuntimeError("upload job did not finish in 15 minutes")
            t1 = time.time()
            peaks = dict(monitor.peak)
    finally:
        for p in workers + api_procs:
            p.stop()
        await redis.aclose()
    return {
        "mode": "upload",
        "size_mb": size_mb,
        "state": state,
        "api_seconds": t_api - t0,
        "total_seconds": t1 - t0,
        "api_idle_mb": idle["api"] / 2**20,
        "worker_idle_mb": idle["worker"] / 2**20,
        "api_delta_mb": (peaks["api"] - idle["api"]) / 2**20,
        "worker_delta_mb": (peaks["worker"] - idle["worker"]) / 2**20,
        "logs": str(run.path),
    }


def _connections(procs: list[Proc]) -> int:
    total = 0
    for proc in procs:
        for p in proc.tree():
            with contextlib.suppress(psutil.Error):
                total += len(p.net_connections(kind="tcp"))
    return total


def _fds(procs: list[Proc]) -> int:
    total = 0
    for proc in procs:
        for p in proc.tree():
            with contextlib.suppress(psutil.Error):
                total += p.num_fds()
    return total


#: Keep-alive connections the soak's load generator may open to the API.
SOAK_CONNECTIONS = 64


async def soak_run(ctx: Context, rate: float, seconds: float) -> dict[str, Any]:
    """API + worker at a steady rate for ``seconds``: RSS, TCP connections and file
    descriptors every 10 s; growth = last minute's mean minus the first minute's
    (after a one-minute warm-up when the soak is long enough)."""
    run = new_run_dir(ctx, "soak")
    await prepare(ctx, "flickrhub", run)
    env_extra = {"JOB_TTL_COMPLETE": "120"}  # records expire, as in production
    api_procs, urls = [], []
    for i in range(1):
        port = free_port()
        env = ctx.fh_env(run.data, **env_extra)
        cmd = [PY, str(BENCH / "fh_launch.py"), "api", "--host", "127.0.0.1", "--port", str(port)]
        api_procs.append(Proc(f"api{i}", cmd, env, run.path, run.logs))
        urls.append(f"http://127.0.0.1:{port}")
    system = System("soak", "flickrhub", 1)
    workers = [
        Proc(
            "worker0",
            system.worker_cmds(ctx)[0],
            ctx.fh_env(run.data, **env_extra),
            run.path,
            run.logs,
        )
    ]
    samples: list[dict[str, float]] = []
    errors = 0
    try:
        await wait_http(urls, api_procs)
        await wait_consumers(system, workers)
        t0 = time.time()
        end = t0 + seconds

        async def sampler() -> None:
            while time.time() < end + 1:
                samples.append(
                    {
                        "t": time.time() - t0,
                        "api_mb": rss_of([p for a in api_procs for p in a.tree()]) / 2**20,
                        "worker_mb": rss_of([p for w in workers for p in w.tree()]) / 2**20,
                        "api_conns": _connections(api_procs),
                        "worker_conns": _connections(workers),
                        "api_fds": _fds(api_procs),
                        "worker_fds": _fds(workers),
                    }
                )
                await asyncio.sleep(10.0)

        sampling = asyncio.create_task(sampler())
        # A bounded pool: the API's open connections are then the server's doing, not
        # the high-water mark of the client's in-flight requests.
        latencies, _, errors = await post_jobs(
            urls,
            int(rate * seconds) + 1,
            rate=rate,
            deadline=end,
            max_connections=SOAK_CONNECTIONS,
        )
        await sampling
    finally:
        for p in workers + api_procs:
            p.stop()
    window = 60.0 if seconds >= 300 else max(10.0, seconds / 4)
    warm = window if seconds >= 300 else 0.0
    first = [s for s in samples if warm <= s["t"] < warm + window]
    last = [s for s in samples if s["t"] >= samples[-1]["t"] - window] if samples else []

    def mean(rows: list[dict[str, float]], key: str) -> float:
        return statistics.fmean(r[key] for r in rows) if rows else float("nan")

    keys = ("api_mb", "worker_mb", "api_conns", "worker_conns", "api_fds", "worker_fds")
    return {
        "mode": "soak",
        "rate": rate,
        "seconds": seconds,
        "errors": errors,
        "enqueue": latency_summary(latencies),
        "first": {k: mean(first, k) for k in keys},
        "last": {k: mean(last, k) for k in keys},
        "growth": {k: mean(last, k) - mean(first, k) for k in keys},
        "max": {k: max((s[k] for s in samples), default=float("nan")) for k in keys},
        "samples": samples,
        "logs": str(run.path),
    }


#: The in-process modes: what each drives (``jobpath.py``, ``apipath.py``).
IN_PROCESS = {"jobpath": "the worker's job path", "apipath": "the API's enqueue path"}
#: How every job (request) of an in-process mode must end for its numbers to count.
IN_PROCESS_OK = {"jobpath": "ack", "apipath": "202"}


async def in_process_run(
    ctx: Context,
    mode: str,
    jobs: int,
    rounds: int,
    use_callgrind: bool = False,
    cprofile_to: Path | None = None,
) -> dict[str, Any]:
    """``<mode>.py`` (``jobpath`` or ``apipath``): one path of FlickrHub in one process,
    without the broker's or the HTTP server's side; CPU per job (request) per round, and
    with ``use_callgrind`` the instructions per job of the last round
    (``valgrind --tool=callgrind``, instrumentation on for that round only), or with
    ``cprofile_to`` that round's cProfile (the thread's CPU clock) written there."""
    run = new_run_dir(ctx, f"{mode}-callgrind" if use_callgrind else mode)
    await prepare(ctx, "flickrhub", run)
    cmd = [PY, str(BENCH / f"{mode}.py"), "--jobs", str(jobs), "--rounds", str(rounds)]
    if cprofile_to is not None:
        cmd += ["--cprofile", str(cprofile_to)]
    dumps = run.path / "callgrind.out"
    if use_callgrind:
        if shutil.which("valgrind") is None:
            raise RuntimeError("--callgrind needs valgrind (Debian's valgrind package)")
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={dumps}",
            f"--log-file={run.logs / 'valgrind.log'}",
            *cmd,
            "--callgrind",
        ]
    with (run.logs / f"{mode}.log").open("w") as stderr:
        done = await asyncio.to_thread(
            subprocess.run,
            cmd,
            env=ctx.fh_env(run.data),
            cwd=run.path,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        tail = (run.logs / f"{mode}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{mode}.py exited {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if set(result["outcomes"]) != {IN_PROCESS_OK[mode]}:
        raise RuntimeError(f"{mode}: not every job went through: {result['outcomes']}")
    result["mode"] = mode
    result["logs"] = str(run.path)
    if use_callgrind:
        # The dump callgrind_control asked for: "<file>.1" ("<file>" holds the rest).
        summary = re.search(r"^summary: (\d+)", Path(f"{dumps}.1").read_text(), re.MULTILINE)
        if summary is None:
            raise RuntimeError(f"no callgrind summary in {dumps}.1")
        result["instructions_per_job"] = int(summary[1]) / jobs
    return result


async def profile_run(ctx: Context, n: int, out_dir: Path) -> dict[str, Any]:
    """Drain N jobs through one FlickrHub worker under py-spy (sampling, native off),
    and again under cProfile for exact call counts."""
    results: dict[str, Any] = {}
    system = System("FlickrHub worker ×1", "flickrhub", 1)
    # py-spy: attach to the worker once it runs.
    run = new_run_dir(ctx, "profile-pyspy")
    await prepare(ctx, "flickrhub", run)
    await publish(ctx, system, run, n, 0)
    redis = Redis.from_url(REDIS_URL)
    progress = Progress("flickrhub", redis)
    await progress.arm(n)
    workers = start_workers(ctx, system, run)
    collapsed = out_dir / "pyspy.txt"
    # Attach once 5 % are done: startup (imports, connections) stays out of the profile.
    await wait_done(progress, max(1, n // 20), workers, timeout=120)
    spy = subprocess.Popen(
        [
            str(VENV_BIN / "py-spy"),
            "record",
            "--pid",
            str(workers[0].ps.pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(collapsed),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_done(progress, n * 95 // 100, workers, timeout=max(120.0, n / 10))
    finally:
        spy.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=30)
        await wait_done(progress, n, workers, timeout=max(120.0, n / 10))
        for w in workers:
            w.stop()
    results["pyspy"] = str(collapsed)
    # cProfile: same drain, the worker dumps its stats when it stops.
    run = new_run_dir(ctx, "profile-cprofile")
    await prepare(ctx, "flickrhub", run)
    await publish(ctx, system, run, n, 0)
    progress = Progress("flickrhub", redis)
    await progress.arm(n)
    stats = out_dir / "cprofile.prof"
    env = ctx.fh_env(run.data, BENCH_PROFILE=str(stats))
    workers = [Proc("worker0", system.worker_cmds(ctx)[0], env, run.path, run.logs)]
    try:
        await wait_done(progress, n, workers, timeout=max(120.0, n / 5))
    finally:
        for w in workers:
            w.stop(timeout=60)
        await redis.aclose()
    results["cprofile"] = str(stats)
    log_lines = sum(1 for _ in (run.logs / "worker0.log").open(errors="replace"))
    results["worker_log_lines_per_job"] = log_lines / n
    results["redis_commands_per_job"] = await redis_commands_per_job(ctx, system)
    return results


async def redis_commands_per_job(ctx: Context, system: System, n: int = 200) -> dict[str, float]:
    """Redis commands per job of the worker alone, from ``MONITOR`` (db 14 only), for a
    small drain: what each job costs in round trips."""
    run = new_run_dir(ctx, "profile-redis")
    await prepare(ctx, "flickrhub", run)
    await publish(ctx, system, run, n, 0)
    redis = Redis.from_url(REDIS_URL)
    progress = Progress("flickrhub", redis)
    await progress.arm(n)
    monitor_log = run.path / "monitor.txt"
    with monitor_log.open("wb") as out:
        monitor = subprocess.Popen(
            ["redis-cli", "-n", str(REDIS_DB), "monitor"], stdout=out, stderr=subprocess.DEVNULL
        )
        await asyncio.sleep(0.5)
        workers = start_workers(ctx, system, run)
        try:
            await wait_done(progress, n, workers, timeout=120)
        finally:
            for w in workers:
                w.stop()
            monitor.terminate()
            monitor.wait()
            await redis.aclose()
    counts: dict[str, int] = {}
    for line in monitor_log.read_text(errors="replace").splitlines():
        # 1732803200.123456 [14 127.0.0.1:5555] "SET" "key" ...
        if f"[{REDIS_DB} " not in line or '"' not in line:
            continue
        command = line.split('"', 2)[1].upper()
        if command in ("SCARD", "MONITOR", "PING", "CLIENT", "INFO", "HELLO", "SELECT"):
            continue  # the harness's progress polls, connection setup
        counts[command] = counts.get(command, 0) + 1
    return {k: v / n for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


# --- reporting -----------------------------------------------------------------------------


def values_of(runs: list[dict[str, Any]], path: str) -> list[float]:
    values = []
    for r in runs:
        v: Any = r
        for part in path.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, int | float) and v == v:
            values.append(float(v))
    return values


def median_of(runs: list[dict[str, Any]], path: str) -> float | None:
    values = values_of(runs, path)
    return statistics.median(values) if values else None


def total_of(runs: list[dict[str, Any]], path: str) -> float | None:
    """For counts that must not hide in a median: errors in any run show."""
    values = values_of(runs, path)
    return sum(values) if values else None


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory()

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    def cmd_version(cmd: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[-1]
        return "-"

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
            ).stdout.strip()
        return "-"

    return {
        "git": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len(
            [
                x
                for x in git("status", "--porcelain").splitlines()
                if x.strip() and not x.startswith("??")
            ]
        ),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(mem.total / 2**30, 1),
        "load_avg": os.getloadavg(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "rabbitmq": cmd_version(["rabbitmqctl", "version"]),
        "redis": cmd_version(["redis-server", "--version"]),
        "packages": {
            p: version(p)
            for p in (
                "flickrhub",
                "aio-pika",
                "aiormq",
                "redis",
                "httpx",
                "aiohttp",
                "celery",
                "kombu",
                "dramatiq",
                "pika",
                "taskiq",
                "taskiq-aio-pika",
                "taskiq-redis",
                "uvicorn",
                "httptools",
                "uvloop",
                "quart",
                "pydantic",
                "structlog",
            )
        },
    }


def p50_p99(runs: list[dict[str, Any]], key: str) -> str:
    return f"{fmt(median_of(runs, key + '.p50'), 2)} / {fmt(median_of(runs, key + '.p99'), 2)}"


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    m = report["machine"]
    words = m["redis"].split(" ")
    redis_version = words[2].removeprefix("v=") if len(words) > 2 else m["redis"]
    lines.append(
        f"Run {m['date']}: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GiB, "
        f"Python {m['python']}, RabbitMQ {m['rabbitmq']}, Redis {redis_version}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_avg'])}; "
        f"FlickrHub at {m['git']} with {m['git_dirty_files']} modified files."
    )
    lines.append(f"Command: `{report['command']}`")
    lines.append("")
    drain = report.get("drain", {})
    if drain:
        peer_best = max(
            (
                median_of(drain[k], "jobs_per_s") or 0.0
                for k in drain
                if any(k.startswith(p) for p in ("Celery", "Dramatiq", "taskiq"))
            ),
            default=0.0,
        )
        ceilings = {
            1: median_of(drain.get("bare ×1", []), "jobs_per_s"),
            2: median_of(drain.get("bare ×2", []), "jobs_per_s"),
        }
        lines.append(
            f"### Throughput (queue pre-filled with N={report['n']:,} jobs, drained; "
            f"median of {report['runs']})"
        )
        lines.append("")
        lines.append(
            "| system | jobs/s | × fastest peer | × bare (same processes) | "
            "worker CPU s / 1k jobs | RabbitMQ+Redis+stand-in CPU s / 1k | "
            "peak RSS MB | enqueue p50 / p99 ms | machine busy (cores) |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, runs in drain.items():
            jps = median_of(runs, "jobs_per_s")
            procs = 2 if "×2" in key else 1
            ceiling = ceilings.get(procs) if ("bare" in key or "FlickrHub" in key) else None
            incomplete = "" if all(r.get("complete") for r in runs) else " (incomplete!)"
            lines.append(
                f"| {key}{incomplete} | {fmt(jps)} | "
                f"{fmt(jps / peer_best, 2) if jps and peer_best else '—'} | "
                f"{fmt(jps / ceiling, 2) if jps and ceiling else '—'} | "
                f"{fmt(median_of(runs, 'cpu_per_1k'), 2)} | "
                f"{fmt(median_of(runs, 'infra_cpu_per_1k'), 2)} | "
                f"{fmt(median_of(runs, 'peak_rss_mb'))} | "
                f"{p50_p99(runs, 'enqueue')} | "
                f"{fmt(median_of(runs, 'machine_busy'), 2)} |"
            )
        lines.append("")
    api = report.get("api", {})
    if api:
        lines.append(
            "### Through the HTTP API (closed loop, 64 requests in flight; "
            "first request → last job done)"
        )
        lines.append("")
        lines.append(
            "| setup | jobs/s | × fastest peer | FlickrHub CPU s / 1k | "
            "infra CPU s / 1k | load generator CPU s / 1k | peak RSS MB | "
            "enqueue p50 / p99 ms | errors (all runs) | machine busy (cores) |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        peer_best = max(
            (
                median_of(drain[k], "jobs_per_s") or 0.0
                for k in drain
                if any(k.startswith(p) for p in ("Celery", "Dramatiq", "taskiq"))
            ),
            default=0.0,
        )
        for key, runs in api.items():
            jps = median_of(runs, "jobs_per_s")
            lines.append(
                f"| {key} | {fmt(jps)} | {fmt(jps / peer_best, 2) if jps and peer_best else '—'} | "
                f"{fmt(median_of(runs, 'cpu_per_1k'), 2)} | "
                f"{fmt(median_of(runs, 'infra_cpu_per_1k'), 2)} | "
                f"{fmt(median_of(runs, 'loadgen_cpu_per_1k'), 2)} | "
                f"{fmt(median_of(runs, 'peak_rss_mb'))} | "
                f"{p50_p99(runs, 'enqueue')} | "
                f"{fmt(total_of(runs, 'errors'))} | {fmt(median_of(runs, 'machine_busy'), 2)} |"
            )
        lines.append("")
    steady = report.get("steady", {})
    if steady:
        bare = median_of(steady.get("bare ×1", []), "e2e.p99")
        lines.append(
            f"### Latency at a steady {report['rate']:g} jobs/s "
            f"({report['steady_seconds']:g} s per run, the first {WARMUP:g} s not "
            "counted; publish → done)"
        )
        lines.append("")
        lines.append(
            "| system | e2e p50 ms | e2e p95 ms | e2e p99 ms | p99 × bare | "
            "enqueue p50 / p99 ms | worker CPU s / 1k | machine busy (cores) |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for key, runs in steady.items():
            p99 = median_of(runs, "e2e.p99")
            lines.append(
                f"| {key} | {fmt(median_of(runs, 'e2e.p50'), 1)} | "
                f"{fmt(median_of(runs, 'e2e.p95'), 1)} | {fmt(p99, 1)} | "
                f"{fmt(p99 / bare, 1) if p99 and bare else '—'} | "
                f"{p50_p99(runs, 'enqueue')} | "
                f"{fmt(median_of(runs, 'cpu_per_1k'), 2)} | "
                f"{fmt(median_of(runs, 'machine_busy'), 2)} |"
            )
        lines.append("")
    enqueue = report.get("enqueue", {})
    if enqueue:
        lines.append("### API enqueue latency, open loop (no worker running)")
        lines.append("")
        lines.append(
            "| setup | rate req/s | p50 ms | p95 ms | p99 ms | max ms | errors (all runs) | "
            "API CPU s / 1k |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for key, runs in enqueue.items():
            lines.append(
                f"| {key} | {fmt(median_of(runs, 'rate'))} | "
                f"{fmt(median_of(runs, 'enqueue.p50'), 2)} | "
                f"{fmt(median_of(runs, 'enqueue.p95'), 2)} | "
                f"{fmt(median_of(runs, 'enqueue.p99'), 2)} | "
                f"{fmt(median_of(runs, 'enqueue.max'), 1)} | "
                f"{fmt(total_of(runs, 'errors'))} | {fmt(median_of(runs, 'cpu_per_1k'), 2)} |"
            )
        lines.append("")
    for mode, what in IN_PROCESS.items():
        measured = report.get(mode)
        if not measured:
            continue
        lines.append(f"### {what[0].upper()}{what[1:]} in one process ({mode}.py)")
        lines.append("")
        lines.append(
            "| measure | jobs per round | CPU µs per job, each round | median | "
            "instructions per job (callgrind) |"
        )
        lines.append("|---|---:|---|---:|---:|")
        for key, r in measured.items():
            rounds = r.get("cpu_us_per_job", [])
            instructions = r.get("instructions_per_job")
            lines.append(
                f"| {key} | {fmt(r['jobs'])} | {', '.join(f'{x:,.0f}' for x in rounds)} | "
                f"{fmt(statistics.median(rounds) if rounds else None)} | "
                f"{fmt(instructions)} |"
            )
        lines.append("")
        lines.append(
            "Under callgrind the process runs some 50 times slower, and under cProfile "
            "some 2 times, so their CPU columns are not comparable with the plain run's; "
            "callgrind's instruction count is what to compare."
        )
        lines.append("")
    upload = report.get("upload")
    profile = report.get("profile")
    if profile:
        lines.append("### Profile of one FlickrHub worker (see profile_top.py)")
        lines.append("")
        # One entry per profiled setup (older reports: one per httpx transport).
        for setup, p in profile.items():
            lines.append(
                f"* {setup}: {p['worker_log_lines_per_job']:.2f} log lines "
                f"per job; Redis commands per job: "
                + ", ".join(f"{k} {v:.2f}" for k, v in p["redis_commands_per_job"].items())
            )
        lines.append("")
    if upload:
        lines.append(
            f"### Memory: one {upload['size_mb']} MB photo through the API to the stand-in"
        )
        lines.append("")
        lines.append("| process | idle RSS MB | peak above idle MB | target |")
        lines.append("|---|---:|---:|---|")
        lines.append(
            f"| API | {fmt(upload['api_idle_mb'])} | {fmt(upload['api_delta_mb'], 1)} | < 64 |"
        )
        lines.append(
            f"| worker | {fmt(upload['worker_idle_mb'])} | "
            f"{fmt(upload['worker_delta_mb'], 1)} | < 64 |"
        )
        lines.append("")
        lines.append(
            f"Job {upload['state']}; upload request {upload['api_seconds']:.1f} s, "
            f"to done {upload['total_seconds']:.1f} s."
        )
        lines.append("")
    soak = report.get("soak")
    if soak:
        lines.append(
            f"### Soak: {soak['seconds']:g} s at {soak['rate']:g} jobs/s through "
            "the API (1 API + 1 worker)"
        )
        lines.append("")
        lines.append("| measure | first window | last window | growth | max |")
        lines.append("|---|---:|---:|---:|---:|")
        for k in ("api_mb", "worker_mb", "api_conns", "worker_conns", "api_fds", "worker_fds"):
            lines.append(
                f"| {k} | {fmt(soak['first'][k], 1)} | {fmt(soak['last'][k], 1)} | "
                f"{fmt(soak['growth'][k], 1)} | {fmt(soak['max'][k], 1)} |"
            )
        lines.append("")
        lines.append(
            f"Enqueue p99 {fmt(soak['enqueue']['p99'], 2)} ms over "
            f"{soak['enqueue']['count']:,} requests, {soak['errors']} errors."
        )
        lines.append("")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------


@contextlib.contextmanager
def standin_server(workdir: Path) -> Iterator[tuple[str, Proc]]:
    ready = workdir / "standin.port"
    proc = Proc(
        "standin",
        [PY, str(BENCH / "standin.py"), "--ready-file", str(ready)],
        base_env(),
        BENCH,
        workdir,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            if not proc.alive() or time.monotonic() > deadline:
                raise SystemExit(f"stand-in did not start:\n{proc.tail()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{ready.read_text().strip()}", proc
    finally:
        proc.stop()


async def guarded(what: str, coro: Any) -> dict[str, Any] | None:
    """Run one measurement; a failure is logged and skipped, not fatal to the bench."""
    try:
        result: dict[str, Any] = await coro
        return result
    except Exception as exc:
        log(f"  FAILED {what}: {type(exc).__name__}: {str(exc)[-1500:]}")
        return None


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from flickrhub_core.crypto import new_key

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="flickrhub-bench-"))
    report: dict[str, Any] = {
        "command": " ".join(["bench/run", *sys.argv[1:]]),
        "machine": machine(),
        "n": args.n,
        "runs": args.runs,
        "rate": args.rate,
        "steady_seconds": args.steady_seconds,
        "concurrency": args.concurrency,
        "workdir": str(workdir),
    }
    with standin_server(workdir) as (url, standin):
        ctx = Context(url, standin, workdir, args.concurrency, new_key())
        ctx.infra = infra_processes(standin)
        log(f"stand-in at {url}; work dir {workdir}")
        try:
            if "drain" in modes:
                report["drain"] = {}
                for system in systems_for(args.systems.split(",")):
                    for i in range(args.runs):
                        log(f"drain {system.key} run {i + 1}/{args.runs} (N={args.n})")
                        r = await guarded(system.key, drain_run(ctx, system, args.n))
                        if r is None:
                            continue
                        log(
                            f"  {r['jobs_per_s']:.0f} jobs/s, {r['cpu_per_1k']:.2f} CPU s/1k, "
                            f"peak {r['peak_rss_mb']:.0f} MB, outcomes {r['outcomes']}"
                        )
                        report["drain"].setdefault(system.key, []).append(r)
            if "api" in modes:
                report["api"] = {}
                for apis, workers in args.api_setups:
                    for i in range(args.runs):
                        log(f"api {apis} API + {workers} worker run {i + 1}/{args.runs}")
                        r = await guarded("api", api_run(ctx, args.n, apis, workers))
                        if r is None:
                            continue
                        log(
                            f"  {r['jobs_per_s']:.0f} jobs/s, enqueue p99 "
                            f"{r['enqueue']['p99']:.1f} ms, errors {r['errors']}"
                        )
                        report["api"].setdefault(r["system"], []).append(r)
            if "steady" in modes:
                report["steady"] = {}
                for system in systems_for(args.steady_systems.split(",")):
                    for i in range(args.runs):
                        log(f"steady {system.key} at {args.rate}/s run {i + 1}/{args.runs}")
                        r = await guarded(
                            system.key, steady_run(ctx, system, args.rate, args.steady_seconds)
                        )
                        if r is None:
                            continue
                        log(f"  e2e p50 {r['e2e']['p50']:.1f} p99 {r['e2e']['p99']:.1f} ms")
                        report["steady"].setdefault(system.key, []).append(r)
                for i in range(args.runs):
                    log(f"steady FlickrHub via API at {args.rate}/s run {i + 1}/{args.runs}")
                    r = await guarded(
                        "api steady",
                        api_run(ctx, int(args.rate * args.steady_seconds), 1, 1, rate=args.rate),
                    )
                    if r is None:
                        continue
                    r["e2e_note"] = "from the client's request time"
                    log(f"  e2e p50 {r['e2e']['p50']:.1f} p99 {r['e2e']['p99']:.1f} ms")
                    report["steady"].setdefault("FlickrHub API ×1 + worker ×1", []).append(r)
            if "enqueue" in modes:
                report["enqueue"] = {}
                for apis, i in [(a, i) for a in args.enqueue_apis for i in range(args.runs)]:
                    log(f"enqueue at {args.enqueue_rate}/s, {apis} API, run {i + 1}/{args.runs}")
                    r = await guarded(
                        "enqueue", enqueue_run(ctx, args.enqueue_rate, args.enqueue_seconds, apis)
                    )
                    if r is None:
                        continue
                    log(
                        f"  p50 {r['enqueue']['p50']:.2f} p99 {r['enqueue']['p99']:.2f} ms, "
                        f"errors {r['errors']}"
                    )
                    report["enqueue"].setdefault(r["system"], []).append(r)
            if "upload" in modes:
                log(f"upload {args.upload_mb} MB")
                upload = await guarded("upload", upload_run(ctx, args.upload_mb))
                if upload is not None:
                    report["upload"] = upload
                    log(
                        f"  API +{upload['api_delta_mb']:.1f} MB, worker "
                        f"+{upload['worker_delta_mb']:.1f} MB, {upload['state']}"
                    )
            if "soak" in modes:
                log(f"soak {args.duration:g} s at {args.soak_rate}/s")
                soak = await guarded("soak", soak_run(ctx, args.soak_rate, args.duration))
                if soak is not None:
                    report["soak"] = soak
                    log(f"  growth {soak['growth']}")
            for mode, what in IN_PROCESS.items():
                if mode not in modes:
                    continue
                report[mode] = {}
                log(f"{mode}: {args.path_rounds} rounds of {args.path_jobs} ({what})")
                r = await guarded(mode, in_process_run(ctx, mode, args.path_jobs, args.path_rounds))
                if r is not None:
                    log(f"  CPU µs per job: {', '.join(f'{x:.0f}' for x in r['cpu_us_per_job'])}")
                    report[mode]["plain"] = r
                if args.callgrind:
                    log(f"{mode} under callgrind: one round of {args.callgrind}")
                    r = await guarded(
                        f"{mode} callgrind", in_process_run(ctx, mode, args.callgrind, 1, True)
                    )
                    if r is not None:
                        log(f"  {r['instructions_per_job']:,.0f} instructions per job")
                        report[mode]["under callgrind"] = r
                if args.path_profile:
                    stats = Path(args.out).resolve() / f"{mode}.prof"
                    stats.parent.mkdir(parents=True, exist_ok=True)
                    log(f"{mode} under cProfile: one round of {args.path_jobs}")
                    r = await guarded(
                        f"{mode} cProfile",
                        in_process_run(ctx, mode, args.path_jobs, 1, cprofile_to=stats),
                    )
                    if r is not None:
                        log(f"  profile in {stats} (profile_top.py cprofile)")
                        report[mode]["under cProfile"] = {**r, "cprofile": str(stats)}
            if "profile" in modes:
                out = Path(args.out).resolve()
                out.mkdir(parents=True, exist_ok=True)
                log(f"profile FlickrHub worker ×1, N={args.n}")
                prof = await guarded("profile", profile_run(ctx, args.n, out))
                if prof is not None:
                    report["profile"] = {"FlickrHub worker ×1": prof}
        finally:
            await asyncio.to_thread(drop_vhost)
            await flushdb()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description="FlickrHub vs Celery, Dramatiq, taskiq and a bare aio-pika consumer."
    )
    parser.add_argument(
        "--modes",
        default="drain,api,steady,enqueue,upload",
        help="comma list of drain, api, steady, enqueue, upload, soak, profile, jobpath, apipath",
    )
    parser.add_argument("--n", type=int, default=10_000, help="jobs per throughput run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--systems",
        default="bare,bare2,flickrhub,flickrhub2,celery,dramatiq,taskiq",
        help="systems for the drain mode",
    )
    parser.add_argument("--steady-systems", default="bare,flickrhub,celery,dramatiq,taskiq")
    parser.add_argument("--rate", type=float, default=150.0, help="steady mode: jobs/s")
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    parser.add_argument("--enqueue-rate", type=float, default=500.0)
    parser.add_argument("--enqueue-seconds", type=float, default=10.0)
    parser.add_argument(
        "--enqueue-apis", default="1,2", help="API process counts for the enqueue mode"
    )
    parser.add_argument(
        "--api-setup",
        dest="api_setups",
        action="append",
        type=lambda s: tuple(int(x) for x in s.split("+")),
        help="API+workers process counts for the api mode (repeatable; default 1+1 and 1+2)",
    )
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--duration", type=float, default=3600.0, help="soak seconds")
    parser.add_argument(
        "--path-jobs", type=int, default=2000, help="jobpath, apipath: jobs (requests) per round"
    )
    parser.add_argument(
        "--path-rounds", type=int, default=5, help="jobpath, apipath: measured rounds"
    )
    parser.add_argument(
        "--callgrind",
        type=int,
        default=0,
        metavar="JOBS",
        help="jobpath, apipath: also count the instructions of one round of JOBS (valgrind)",
    )
    parser.add_argument(
        "--path-profile",
        action="store_true",
        help="jobpath, apipath: also cProfile one round (CPU clock) into <out>/<mode>.prof",
    )
    parser.add_argument("--soak-rate", type=float, default=150.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="jobs in flight per async worker process (prefetch)",
    )
    parser.add_argument("--out", default=str(BENCH / "results"))
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        help="only print the tables of a saved report (results/*.json)",
    )
    args = parser.parse_args()
    if args.render is not None:
        print(render(json.loads(args.render.read_text())))
        return
    systems_for([*args.systems.split(","), *args.steady_systems.split(",")])  # fail early
    args.enqueue_apis = [int(x) for x in args.enqueue_apis.split(",") if x.strip()]
    if not args.api_setups:
        args.api_setups = [(1, 1), (1, 2)]
    report = asyncio.run(main_async(args))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(report, indent=1, default=str))
    table = render(report)
    (out / f"{stamp}.md").write_text(table + "\n")
    (out / "latest.md").write_text(table + "\n")
    print()
    print(table)


if __name__ == "__main__":
    main()
