"""Work acknowledged to a channel but not done yet, in a Redis Stream read by one consumer group.

Ingress writes a job (`enqueue`) before it acknowledges, so an acknowledged event survives a crash; any
process running `JobWorker.run` (the same one on the embedded default, `switchboard worker` processes
when the web tier is split off) takes it. Delivery is at least once: a job is acknowledged and deleted
only after its handler finished; a job whose worker died, or whose handler asked to be asked again later,
is taken over once idle `reclaim_after_s`; after `max_deliveries` it moves to the dead-letter stream
(`{stream}:dead`) with the reason, never silently dropped. Handlers are idempotent (the ingress ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.protocols import StoreUnavailable
from memory.store import unavailable_as_store_error

log = logging.getLogger(__name__)

GROUP = "workers"
DEAD_LETTERS = 1000  # the newest this many are kept

# (kind, payload) -> True when finished (acknowledge), False to be handed out again after reclaim_after_s
JobHandler = Callable[[str, dict[str, Any]], Awaitable[bool]]


class RedisJobQueue:
    def __init__(
        self,
        client: Redis,
        stream: str,
        reclaim_after_s: float = 90,
        max_deliveries: int = 10,
    ) -> None:
        if reclaim_after_s <= 0 or max_deliveries < 1:
            raise ValueError("reclaim_after_s must be positive and max_deliveries at least 1")
        self.client = client
        self.stream = stream
        self.dead = f"{stream}:dead"
        self.reclaim_ms = int(reclaim_after_s * 1000)
        self.max_deliveries = max_deliveries
        self._group_ready = False
        self._batch: list[tuple[dict[str, str], asyncio.Future[str]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def enqueue(self, kind: str, payload: dict[str, Any]) -> str:
        """The job's id once it is stored; raises StoreUnavailable (the caller must not acknowledge).

        Group commit: jobs enqueued in the same event-loop turn (a burst of events) are written in one
        pipelined round trip, so a burst costs one hop to Redis instead of one per event; a lone job is
        written on the next turn, as soon as it would have been anyway."""
        stored: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._batch.append(({"kind": kind, "payload": json.dumps(payload)}, stored))
        if len(self._batch) == 1:
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await stored

    def _start_flush(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.create_task(self._flush(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[tuple[dict[str, str], asyncio.Future[str]]]) -> None:
        try:
            async with unavailable_as_store_error():
                async with self.client.pipeline(transaction=False) as pipe:
                    for fields, _ in batch:
                        pipe.xadd(self.stream, cast(dict[Any, Any], fields))
                    ids: list[Any] = await pipe.execute()
        except BaseException as error:
            for _, stored in batch:
                if not stored.done():
                    stored.set_exception(error if isinstance(error, Exception) else StoreUnavailable("cancelled"))
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for (_, stored), entry_id in zip(batch, ids, strict=True):
            if not stored.done():
                stored.set_result(str(entry_id))

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def take(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, str, dict[str, Any]]]:
        """Up to `count` new jobs for this consumer, waiting at most `block_ms` for one."""
        async with unavailable_as_store_error():
            await self._ensure_group()
            try:
                read: Any = await self.client.xreadgroup(
                    GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._group_ready = False  # the stream was deleted (a flushed Redis): created again next time
                return []
        return [job for _, batch in read or [] for job in map(_decode, batch) if job is not None]

    async def reclaim(self, consumer: str, count: int) -> list[tuple[str, str, dict[str, Any]]]:
        """Jobs idle past `reclaim_after_s` (a worker died, or the handler deferred them), taken over by
        this consumer; those handed out `max_deliveries` times go to the dead-letter stream instead.
        A job still running is never idle that long: its worker keeps it fresh (`keep_alive`)."""
        async with unavailable_as_store_error():
            await self._ensure_group()
            try:
                stale: Any = await self.client.xpending_range(
                    self.stream, GROUP, min="-", max="+", count=count, idle=self.reclaim_ms
                )
                if not stale:
                    return []
                ids = [str(p["message_id"]) for p in stale]
                delivered = {str(p["message_id"]): int(p["times_delivered"]) for p in stale}
                # taking ownership first (only one worker wins an entry) decides who buries or runs it
                owned: Any = await self.client.xclaim(
                    self.stream, GROUP, consumer, self.reclaim_ms, cast(list[Any], ids), justid=True
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._group_ready = False
                return []
            owned_ids = [str(entry_id) for entry_id in owned or []]
            spent = [i for i in owned_ids if delivered.get(i, 0) >= self.max_deliveries]
            for entry_id in spent:
                await self._move_to_dead(entry_id, f"handed out {self.max_deliveries} times without finishing")
            retry = [i for i in owned_ids if i not in spent]
            claimed: Any = (
                await self.client.xclaim(self.stream, GROUP, consumer, 0, cast(list[Any], retry)) if retry else []
            )
            jobs = [job for job in map(_decode, claimed) if job is not None]
            gone = set(retry) - {job[0] for job in jobs}
            if gone:  # deleted since (Redis 6.2 still lists them as pending): nothing left to run
                await self.client.xack(self.stream, GROUP, *gone)
        return jobs

    async def keep_alive(self, consumer: str, entry_id: str) -> None:
        """Resets a running job's idle time, so no other worker takes it over while it runs."""
        async with unavailable_as_store_error():
            await self.client.xclaim(self.stream, GROUP, consumer, 0, [entry_id], justid=True)

    async def finish(self, entry_id: str) -> None:
        async with unavailable_as_store_error():
            async with self.client.pipeline(transaction=True) as both:
                both.xack(self.stream, GROUP, entry_id)
                both.xdel(self.stream, entry_id)
                await both.execute()

    async def bury(self, entry_id: str, reason: str) -> None:
        async with unavailable_as_store_error():
            await self._move_to_dead(entry_id, reason)

    async def _move_to_dead(self, entry_id: str, reason: str) -> None:
        entries: Any = await self.client.xrange(self.stream, entry_id, entry_id)
        async with self.client.pipeline(transaction=True) as move:
            for _, fields in entries:
                # bounded: dead letters hold message text, kept for inspection, not forever
                move.xadd(
                    self.dead,
                    dict(fields or {}) | {"reason": reason, "id": entry_id},
                    maxlen=DEAD_LETTERS,
                    approximate=True,
                )
            move.xack(self.stream, GROUP, entry_id)
            move.xdel(self.stream, entry_id)
            await move.execute()
        log.error("job %s moved to %s: %s", entry_id, self.dead, reason)

    async def backlog(self) -> int:
        async with unavailable_as_store_error():
            return int(await self.client.xlen(self.stream))


def _decode(entry: Any) -> tuple[str, str, dict[str, Any]] | None:
    entry_id, fields = entry
    if entry_id is None:  # Redis 6.2 hands out deleted entries as (id, None) or (None, None)
        return None
    try:
        payload = json.loads((fields or {}).get("payload", "{}"))
    except ValueError:
        payload = None
    kind = (fields or {}).get("kind", "")
    if not isinstance(payload, dict) or not kind:
        return str(entry_id), "", {}
    return str(entry_id), str(kind), payload


class JobWorker:
    """Runs jobs from a queue, `concurrency` at a time, until `stop()`; jobs in flight then finish."""

    def __init__(
        self,
        queue: RedisJobQueue,
        handler: JobHandler,
        concurrency: int = 8,
        block_ms: int = 1000,
        consumer: str | None = None,
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.block_ms = block_ms  # must stay under the Redis client's socket timeout
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._started = False

    async def run(self) -> None:
        """Until `stop()`: take jobs (reclaiming stale ones now and then) and run them. Jobs once read are
        run even when a stop arrives meanwhile: they are delivered to this consumer already."""
        slots = asyncio.Semaphore(self.concurrency)
        reclaim_every = max(1.0, self.queue.reclaim_ms / 2000)
        next_reclaim = 0.0
        loop = asyncio.get_running_loop()
        self._started = True
        try:
            while not self._stopping.is_set():
                async with slots:  # wait for a free slot before taking more
                    pass
                if self._stopping.is_set():
                    break
                free = max(1, self.concurrency - len(self._running))
                try:
                    jobs: list[tuple[str, str, dict[str, Any]]] = []
                    if loop.time() >= next_reclaim:
                        jobs = await self.queue.reclaim(self.consumer, free)
                        next_reclaim = loop.time() + reclaim_every
                    if not jobs:
                        jobs = await self.queue.take(self.consumer, free, self.block_ms)
                except StoreUnavailable:
                    await self._pause(2)
                    continue
                except Exception:  # a Redis server error (READONLY, OOM…) must not end the loop
                    log.exception("taking jobs from %s failed; trying again", self.queue.stream)
                    await self._pause(2)
                    continue
                for entry_id, kind, payload in jobs:
                    await slots.acquire()
                    task = asyncio.create_task(self._one(entry_id, kind, payload, slots))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
        finally:
            self._finished.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _one(self, entry_id: str, kind: str, payload: dict[str, Any], slots: asyncio.Semaphore) -> None:
        heartbeat = asyncio.create_task(self._keep_alive(entry_id))
        try:
            if not kind:
                await self.queue.bury(entry_id, "malformed job")
                return
            finished = await self.handler(kind, payload)
        except Exception:
            log.exception("job %s (%s) failed; it will be handed out again", entry_id, kind)
            finished = False
        finally:
            heartbeat.cancel()
            slots.release()
        if finished:
            try:
                await self.queue.finish(entry_id)
            except StoreUnavailable:
                log.warning("job %s done but not acknowledged (Redis unavailable); handlers are idempotent", entry_id)

    async def _keep_alive(self, entry_id: str) -> None:
        every = max(0.05, self.queue.reclaim_ms / 3000)
        while True:
            await asyncio.sleep(every)
            try:
                await self.queue.keep_alive(self.consumer, entry_id)
            except Exception as error:  # a missed beat only risks a duplicate run, which handlers absorb
                log.warning("could not keep job %s alive: %s", entry_id, type(error).__name__)

    def stop(self) -> None:
        self._stopping.set()

    async def drain(self) -> None:
        """Stop taking jobs, let `run` return, and wait for the jobs in flight (the rest stay queued)."""
        self.stop()
        if self._started:
            await self._finished.wait()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
