"""Hot job state in Redis, shared by every API and worker process.

Keys (``<p>`` is the prefix):

* ``<p>job:<id>``: the job as JSON. No TTL while pending; once finished it expires
  after ``JOB_TTL_COMPLETE`` (completed, cancelled) or ``JOB_TTL_FAIL`` (failed) seconds,
  0 meaning never.
* ``<p>idem:<owner>:<key>``: ``Idempotency-Key`` → job id, with its job's TTL.
* ``<p>pending:<owner>``: set of the owner's unfinished job ids (the per-client cap
  counts it with one SCARD, inside the save script when ``create`` makes a job).
* ``<p>batch:<batch_id>``: set of the batch's job ids, so a batch's status never
  depends on how far back in the owner's history it lies; it expires with the
  longest job TTL once its jobs are saved finished.
* ``<p>jobs:<owner>``: sorted set of job ids scored by ``created_at`` (whole
  microseconds since the epoch; equal scores order by id, as ``JobQuery`` wants).
  Entries whose job expired are removed when a listing meets them, and the set is
  capped at ``max_listed`` newest ids, so an owner who never lists stays bounded.
* ``<p>dlq:<owner>``: the same, for the owner's jobs in the DLQ only (dead-lettered,
  neither replayed nor purged), so listing them never scans the owner's history.
* ``<p>cancel:<id>``: a cancel request (:class:`~flickrhub_core.stores.CancelRequests`),
  apart from the record the worker rewrites; ``get`` and ``list`` set
  ``cancel_requested`` from it. It expires after ``CANCEL_TTL``.
* ``<p>lease:<id>``: the worker running the job (:class:`~flickrhub_core.stores.JobLeases`),
  with the lease's TTL; taken and renewed with one script, given up only by its holder.
* ``<p>start:<id>``: the id of the call that took the lease and started the job
  (:class:`~flickrhub_core.stores.StartingLeases`), with the lease's TTL, so that the
  same call sent again is answered as it was.

``save`` is one script (one round trip): it refuses to store a second outcome of a
finished job (:class:`~flickrhub_core.errors.JobAlreadyFinished`) or to store a job a
worker has started as never started (:class:`~flickrhub_core.errors.JobAlreadyStarted`),
and writes only what changed.
The record is written every time; the listing index, the pending set, the batch and
the idempotency entry when the job is created (its record is new); the pending set,
the batch's and the idempotency entry's TTLs when it is saved finished. So a worker's
saves of a job it runs (``running``, ``retrying``, progress) are one ``SET`` each.
``create`` is the same script with the pending-jobs cap: it counts the pending set
before it writes a new job, so the API's enqueue is one round trip and two racing
enqueues cannot both take the owner's last free place.
"""

from __future__ import annotations

import builtins
import math
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter
from redis.asyncio import Redis

from flickrhub_core.errors import JobAlreadyFinished, JobAlreadyStarted, QueueFull
from flickrhub_core.jobs import FINISHED_STATES, Job, JobState
from flickrhub_core.stores import JobQuery
from flickrhub_redis._client import Keys, text

#: Ids a listing reads per round trip, at most (it starts at the page size asked for).
MAX_PAGE = 500
#: A claim that no ``save`` follows (the API died in between) frees itself after this.
CLAIM_TTL = 3600.0
#: What the save script answers when a started job would be saved as never started.
STARTED = "STARTED"
#: Serialises ``finished_at`` exactly as the record does, for the script to compare.
_WHEN: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)
#: Seconds a cancel request is kept: longer than any job stays pending in practice.
CANCEL_TTL = 7 * 86_400

# GET the id, then the job it names: one round trip for an idempotent enqueue.
_FIND_IDEMPOTENT = """
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('GET', ARGV[1] .. id)
"""

# Take or renew the lease unless another holder has it. KEYS: lease. ARGV: holder, ttl ms.
_TAKE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# The states a job ends in (JobState.finished), as a Lua set.
_FINISHED = "{" + ", ".join(f"['{state.value}'] = true" for state in sorted(FINISHED_STATES)) + "}"

# Save a job; refused (nothing written) with the stored state if the job finished
# already and this save is another outcome (another state, or another finish time),
# with STARTED if a worker started the job and this save says it never started, or
# with the owner's pending count (an integer) if the job is new and unfinished and
# that count is at the cap.
# KEYS: job, listing, pending, dlq, idempotency ('' if none), batch ('' if none).
# ARGV: record, state, TTL s (0: none), id, created score, listing trim rank,
#       DLQ change ('add', 'remove' or ''), batch TTL s (0: none),
#       finished_at as in the record ('' if none), '1' if started_at is set else '',
#       the pending-jobs cap (0: none).
_SAVE = (
    "local finished = "
    + _FINISHED
    + """
local old = redis.call('GET', KEYS[1])
if old then
  local ok, stored = pcall(cjson.decode, old)
  if ok and type(stored) == 'table' then
    local was = stored['state']
    local at = stored['finished_at']
    if at == cjson.null or at == nil then at = '' end
    if was and finished[was] and (was ~= ARGV[2] or at ~= ARGV[9]) then return was end
    local began = stored['started_at']
    if began ~= nil and began ~= cjson.null and ARGV[10] == '' then return 'STARTED' end
  end
end
local ttl = tonumber(ARGV[3])
local created = not old
local done = finished[ARGV[2]] ~= nil
local cap = tonumber(ARGV[11])
if created and not done and cap > 0 then
  local pending = redis.call('SCARD', KEYS[3])
  if pending >= cap then return pending end
end
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
else redis.call('SET', KEYS[1], ARGV[1]) end
if created then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, ARGV[6])
end
if done then redis.call('SREM', KEYS[3], ARGV[4])
elseif created then redis.call('SADD', KEYS[3], ARGV[4]) end
if KEYS[5] ~= '' and (created or done) then
  if ttl > 0 then redis.call('SET', KEYS[5], ARGV[4], 'EX', ttl)
  else redis.call('SET', KEYS[5], ARGV[4]) end
end
if ARGV[7] == 'add' then redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
elseif ARGV[7] == 'remove' then redis.call('ZREM', KEYS[4], ARGV[4]) end
if KEYS[6] ~= '' and (created or done) then
  redis.call('SADD', KEYS[6], ARGV[4])
  if tonumber(ARGV[8]) > 0 then redis.call('EXPIRE', KEYS[6], ARGV[8]) end
end
return false
"""
)

# _TAKE_LEASE, setting ``taken`` (0 or 1) for the rest of a script.
# KEYS[1]: lease. ARGV[1], ARGV[2]: holder, ttl ms.
_TAKEN = """
local holder = redis.call('GET', KEYS[1])
local taken = 0
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  taken = 1
end
"""

# _TAKE_LEASE, then the job and its cancel request whether or not the lease was taken.
# KEYS: lease, job, cancel. ARGV: holder, ttl ms. Returns {taken, job, cancel}.
_TAKE_LEASE_AND_GET = (
    _TAKEN
    + """
return {taken, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""
)

# _TAKE_LEASE_AND_GET; when the lease was taken, the record is exactly the published
# one and no cancel is requested, the started record replaces it (what ``save`` does
# for a running job: a SET without TTL), the call's id is kept for the lease's time,
# and nothing else is returned. A call sent again (its reply was lost with its
# connection) finds its own id and answers started again.
# KEYS: lease, job, cancel, start. ARGV: holder, ttl ms, published record, started
# record, call id. Returns {1, 1} when started, else {taken, 0, job, cancel}.
_TAKE_LEASE_AND_START = (
    _TAKEN
    + """
local job = redis.call('GET', KEYS[2])
local cancel = redis.call('GET', KEYS[3])
if taken == 1 then
  if job == ARGV[3] and not cancel then
    redis.call('SET', KEYS[2], ARGV[4])
    redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[2])
    return {1, 1}
  end
  if redis.call('GET', KEYS[4]) == ARGV[5] then return {1, 1} end
end
return {taken, 0, job, cancel}
"""
)

# _TAKE_LEASE for each lease. KEYS: leases. ARGV: holder, ttl ms.
# Returns the positions (from 1) of the leases another holder has.
_RENEW_LEASES = """
local lost = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder and holder ~= ARGV[1] then
    table.insert(lost, i)
  else
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  end
end
return lost
"""

# Drop the idempotency entry only if it still names this job (a newer one may own it).
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisJobStore:
    """:class:`~flickrhub_core.stores.JobStore` on Redis, with the optional
    :class:`~flickrhub_core.stores.CancelRequests`,
    :class:`~flickrhub_core.stores.StartingLeases` (so
    :class:`~flickrhub_core.stores.CombinedLeases`) and
    :class:`~flickrhub_core.stores.CappedCreate`; every ``save`` is one script."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        ttl_complete: int,
        ttl_fail: int,
        max_listed: int = 100_000,
    ) -> None:
        self._r = client
        self._keys = Keys(prefix)
        self._ttl_complete = ttl_complete
        self._ttl_fail = ttl_fail
        self._max_listed = max_listed
        self._find_idempotent = client.register_script(_FIND_IDEMPOTENT)
        self._delete_if_equal = client.register_script(_DELETE_IF_EQUAL)
        self._take_lease = client.register_script(_TAKE_LEASE)
        self._take_lease_and_get = client.register_script(_TAKE_LEASE_AND_GET)
        self._take_lease_and_start = client.register_script(_TAKE_LEASE_AND_START)
        self._renew_leases = client.register_script(_RENEW_LEASES)
        self._save = client.register_script(_SAVE)

    def ttl_of(self, job: Job) -> int | None:
        """Seconds a job's record lives, or None for no expiry (pending, or TTL 0)."""
        if not job.state.finished:
            return None
        ttl = self._ttl_fail if job.state is JobState.FAILED else self._ttl_complete
        return ttl or None

    async def save(self, job: Job) -> None:
        await self._save_job(job, 0)

    async def create(self, job: Job, max_pending: int) -> None:
        """:class:`~flickrhub_core.stores.CappedCreate`: the save script counts the
        pending set (``SCARD``) before it writes a new job, in the same round trip."""
        await self._save_job(job, max_pending)

    async def _save_job(self, job: Job, max_pending: int) -> None:
        # SET without EX also clears an earlier TTL, so "no TTL while pending" holds.
        ttl = self.ttl_of(job)
        longest = max(self._ttl_complete, self._ttl_fail)
        dlq = ""
        if job.dead_lettered:  # only a dead-lettered job can enter or leave the DLQ
            dlq = "add" if job.in_dlq else "remove"
        keys = [
            self._keys.job(job.id),
            self._keys.jobs(job.owner),
            self._keys.pending(job.owner),
            self._keys.dead(job.owner),
            self._keys.idempotency(job.owner, job.idempotency_key) if job.idempotency_key else "",
            self._keys.batch(job.batch_id) if job.batch_id else "",
        ]
        args = [
            job.model_dump_json(),
            job.state.value,
            ttl or 0,
            job.id,
            _micros(job.created_at),
            -(self._max_listed + 1),
            dlq,
            longest if ttl is not None else 0,
            _WHEN.dump_python(job.finished_at, mode="json") or "",
            "1" if job.started_at is not None else "",
            max_pending,
        ]
        refused = await self._save(keys=keys, args=args)
        if refused is not None:
            if isinstance(refused, int):
                raise QueueFull(refused, max_pending)
            state = text(refused)
            if state == STARTED:
                raise JobAlreadyStarted(job.id)
            raise JobAlreadyFinished(job.id, state)

    async def get(self, job_id: str) -> Job | None:
        raw, cancel = await self._r.mget([self._keys.job(job_id), self._keys.cancel(job_id)])
        return None if raw is None else _job(raw, cancel)

    async def request_cancel(self, job_id: str) -> None:
        await self._r.set(self._keys.cancel(job_id), b"1", ex=CANCEL_TTL)

    async def cancel_requested(self, job_id: str) -> bool:
        return bool(await self._r.exists(self._keys.cancel(job_id)))

    async def take_lease(self, job_id: str, holder: str, ttl: float) -> bool:
        return bool(
            await self._take_lease(keys=[self._keys.lease(job_id)], args=[holder, _ms(ttl)])
        )

    async def take_lease_and_get(
        self, job_id: str, holder: str, ttl: float
    ) -> tuple[bool, Job | None]:
        keys = [self._keys.lease(job_id), self._keys.job(job_id), self._keys.cancel(job_id)]
        taken, raw, cancel = await self._take_lease_and_get(keys=keys, args=[holder, _ms(ttl)])
        return bool(taken), None if raw is None else _job(raw, cancel)

    async def take_lease_and_start(
        self, job_id: str, holder: str, ttl: float, published: str, started: Job
    ) -> tuple[bool, bool, Job | None]:
        keys = [
            self._keys.lease(job_id),
            self._keys.job(job_id),
            self._keys.cancel(job_id),
            self._keys.start(job_id),
        ]
        call = secrets.token_hex(8)  # tells a repeat of this call from another call
        args: list[str | int] = [holder, _ms(ttl), published, started.model_dump_json(), call]
        reply = await self._take_lease_and_start(keys=keys, args=args)
        if reply[1]:
            return True, True, None
        taken, _, raw, cancel = reply
        return bool(taken), False, None if raw is None else _job(raw, cancel)

    async def renew_leases(
        self, job_ids: Sequence[str], holder: str, ttl: float
    ) -> builtins.list[str]:
        if not job_ids:
            return []
        keys = [self._keys.lease(job_id) for job_id in job_ids]
        lost = await self._renew_leases(keys=keys, args=[holder, _ms(ttl)])
        return [job_ids[int(position) - 1] for position in lost]

    async def drop_lease(self, job_id: str, holder: str) -> None:
        await self._delete_if_equal(keys=[self._keys.lease(job_id)], args=[holder])

    async def delete(self, job_id: str) -> None:
        job = await self.get(job_id)
        if job is None:
            return
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._keys.job(job_id), self._keys.cancel(job_id))
        pipe.zrem(self._keys.jobs(job.owner), job_id)
        pipe.zrem(self._keys.dead(job.owner), job_id)
        pipe.srem(self._keys.pending(job.owner), job_id)
        if job.batch_id:
            pipe.srem(self._keys.batch(job.batch_id), job_id)
        if job.idempotency_key:
            await self._delete_if_equal(
                keys=[self._keys.idempotency(job.owner, job.idempotency_key)],
                args=[job_id],
                client=pipe,
            )
        await pipe.execute()

    async def count_pending(self, owner: str) -> int:
        return int(await self._r.scard(self._keys.pending(owner)))

    async def find_idempotent(self, owner: str, key: str) -> Job | None:
        raw = await self._find_idempotent(
            keys=[self._keys.idempotency(owner, key)], args=[self._keys.job("")]
        )
        if raw is None:
            return None
        job = Job.model_validate_json(raw)
        return job if job.owner == owner and job.idempotency_key == key else None

    async def claim_idempotency(
        self, owner: str, key: str, job_id: str, *, ttl: float | None = CLAIM_TTL
    ) -> str | None:
        """Reserve ``key`` for ``job_id`` atomically (SET NX GET).

        Returns None when the claim is ours (also when repeated for the same job),
        else the id of the job that holds the key. The claim expires after ``ttl``
        seconds unless ``save`` of the job replaces it first; call ``save`` next.
        """
        px = None if ttl is None else max(1, round(ttl * 1000))
        holder = await self._r.set(
            self._keys.idempotency(owner, key), job_id, nx=True, get=True, px=px
        )
        if holder is None or isinstance(holder, bool):
            return None
        holder_id = text(holder)
        return None if holder_id == job_id else holder_id

    async def release_idempotency(self, owner: str, key: str, job_id: str) -> None:
        await self._delete_if_equal(keys=[self._keys.idempotency(owner, key)], args=[job_id])

    async def list(self, query: JobQuery) -> list[Job]:
        """In ``query``'s order (newest first, then id). The time bounds become a score
        range, so a cursor page costs the same however deep it is; the other filters
        run here on pages of ids, read until ``limit`` jobs match or the index ends: a
        filter that matches few jobs reads that much more of it (at most the
        ``max_listed`` ids it keeps), but a page never misses a job that matches."""
        if query.limit <= 0:
            return []
        if query.batch_id is not None:
            return await self._list_batch(query)
        owner = query.owner
        jobs_key = self._keys.dead(owner) if query.in_dlq else self._keys.jobs(owner)
        high, low = _score_range(query)
        page = query.limit
        offset = 0
        seen: set[str] = set()
        gone: list[str] = []
        out: list[Job] = []
        while len(out) < query.limit:
            raw_ids = await self._r.zrange(
                jobs_key, high, low, desc=True, byscore=True, offset=offset, num=page
            )
            if not raw_ids:
                break
            offset += len(raw_ids)
            # New jobs arriving between pages shift offsets: skip ids seen already.
            ids = [text(r) for r in raw_ids if isinstance(r, bytes | str)]
            ids = [i for i in ids if i not in seen]
            seen.update(ids)
            values = await self._values(ids)
            for job_id, (raw, cancel) in zip(ids, values, strict=True):
                if raw is None:
                    gone.append(job_id)
                    continue
                job = _job(raw, cancel)
                if query.matches(job):
                    out.append(job)
                    if len(out) >= query.limit:
                        break
            page = min(page * 2, MAX_PAGE)
        if gone:
            await self._r.zrem(jobs_key, *gone)
        return out

    async def _list_batch(self, query: JobQuery) -> builtins.list[Job]:
        """A batch is small (at most 100 jobs): read all of it through its index."""
        assert query.batch_id is not None
        ids = sorted(text(r) for r in await self._r.smembers(self._keys.batch(query.batch_id)))
        values = await self._values(ids)
        jobs = [_job(raw, cancel) for raw, cancel in values if raw is not None]
        matching = [job for job in jobs if query.matches(job)]
        matching.sort(key=lambda job: (job.created_at, job.id), reverse=True)
        return matching[: query.limit]

    async def _values(self, ids: builtins.list[str]) -> builtins.list[tuple[object, object]]:
        """Each job's record and cancel request, in one MGET."""
        if not ids:
            return []
        keys = [self._keys.job(i) for i in ids] + [self._keys.cancel(i) for i in ids]
        values = await self._r.mget(keys)
        return list(zip(values[: len(ids)], values[len(ids) :], strict=True))


def _job(raw: object, cancel: object) -> Job:
    job = Job.model_validate_json(raw)  # type: ignore[arg-type]
    if cancel is not None:
        job.cancel_requested = True
    return job


def _ms(seconds: float) -> int:
    """A lease's TTL in whole milliseconds, rounded up (never 0: no TTL at all)."""
    return max(1, math.ceil(seconds * 1000))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    """Whole microseconds since the epoch: exact as a Redis score (< 2^53)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1)


def _score_range(query: JobQuery) -> tuple[str, str]:
    """``(max, min)`` scores for ZRANGE BYSCORE REV from ``until``, ``before`` and ``since``.

    With ``before_id`` the ``before`` instant itself stays in range: jobs created at
    that instant with a smaller id come next, and ``query.matches`` picks them.
    """
    bounds: list[tuple[int, bool]] = []  # (score, exclusive)
    if query.until is not None:
        bounds.append((_micros(query.until), True))
    if query.before is not None:
        bounds.append((_micros(query.before), query.before_id is None))
    high = "+inf"
    if bounds:
        score, exclusive = min(bounds, key=lambda b: (b[0], not b[1]))
        high = f"({score}" if exclusive else str(score)
    low = "-inf" if query.since is None else str(_micros(query.since))
    return high, low
