"""The Redis job queue between Slack ingress and workers: at least once, deferrable, dead letters, drain."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from memory.jobs import GROUP, JobWorker, RedisJobQueue


def queue(client: Redis, prefix: str, **options: Any) -> RedisJobQueue:
    return RedisJobQueue(client, f"{prefix}:jobs", **options)


async def until(check: Any, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_job_whose_worker_died_is_run_by_another(redis_client: Redis, key_prefix: str) -> None:
    jobs = queue(redis_client, key_prefix, reclaim_after_s=0.3)
    await jobs.enqueue("answer", {"n": 1})
    [(_, kind, payload)] = await jobs.take("crashed-worker", 10, 100)  # taken, never finished
    assert (kind, payload) == ("answer", {"n": 1})
    seen: list[dict[str, Any]] = []

    async def handle(kind: str, payload: dict[str, Any]) -> bool:
        seen.append(payload)
        return True

    worker = JobWorker(jobs, handle, block_ms=100, consumer="survivor")
    running = asyncio.create_task(worker.run())
    await until(lambda: _empty(redis_client, jobs))
    await worker.drain()
    await running  # ends within one blocking read once stopped
    assert seen == [{"n": 1}]


async def _empty(client: Redis, jobs: RedisJobQueue) -> bool:
    try:
        pending: Any = await client.xpending(jobs.stream, GROUP)
    except ResponseError:  # the worker has not created its group yet
        return False
    return await jobs.backlog() == 0 and int(pending["pending"]) == 0


async def test_a_deferred_job_is_handed_out_again_then_finished(redis_client: Redis, key_prefix: str) -> None:
    jobs = queue(redis_client, key_prefix, reclaim_after_s=0.2)
    await jobs.enqueue("answer", {"n": 2})
    answers = [False, True]  # "being answered elsewhere" the first time
    calls = 0

    async def handle(kind: str, payload: dict[str, Any]) -> bool:
        nonlocal calls
        calls += 1
        return answers.pop(0)

    worker = JobWorker(jobs, handle, block_ms=100)
    running = asyncio.create_task(worker.run())
    await until(lambda: _empty(redis_client, jobs))
    await worker.drain()
    await running  # ends within one blocking read once stopped
    assert calls == 2


async def test_a_job_that_keeps_failing_ends_in_the_dead_letters_with_its_reason(
    redis_client: Redis, key_prefix: str
) -> None:
    jobs = queue(redis_client, key_prefix, reclaim_after_s=0.2, max_deliveries=2)
    await jobs.enqueue("share", {"n": 3})
    await redis_client.xadd(jobs.stream, {"kind": "answer", "payload": "{not json"})
    calls = 0

    async def handle(kind: str, payload: dict[str, Any]) -> bool:
        nonlocal calls
        calls += 1
        raise RuntimeError("Slack is down")

    worker = JobWorker(jobs, handle, block_ms=100)
    running = asyncio.create_task(worker.run())
    await until(lambda: _empty(redis_client, jobs))
    await worker.drain()
    await running  # ends within one blocking read once stopped
    assert calls == 2, "handed out max_deliveries times, then not again"
    dead: Any = await redis_client.xrange(jobs.dead)
    reasons = sorted((fields["kind"], fields["reason"]) for _, fields in dead)
    assert reasons == [("answer", "malformed job"), ("share", "handed out 2 times without finishing")]


async def test_drain_finishes_the_jobs_in_flight_and_leaves_the_rest_queued(
    redis_client: Redis, key_prefix: str
) -> None:
    jobs = queue(redis_client, key_prefix)
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def handle(kind: str, payload: dict[str, Any]) -> bool:
        started.set()
        await release.wait()
        finished.append(payload["n"])
        return True

    worker = JobWorker(jobs, handle, concurrency=1, block_ms=100)
    running = asyncio.create_task(worker.run())
    await jobs.enqueue("answer", {"n": 1})
    await started.wait()
    draining = asyncio.create_task(worker.drain())
    await jobs.enqueue("answer", {"n": 2})  # arrives while stopping: for the next worker
    await asyncio.sleep(0.3)
    assert not draining.done(), "drain waits for the job in flight"
    release.set()
    await draining
    await running
    assert finished == [1]
    pending: Any = await redis_client.xpending(jobs.stream, GROUP)
    assert int(pending["pending"]) == 0, "the stopping worker did not take the second job"
    [(_, _, payload)] = await jobs.take("next-worker", 10, 100)
    assert payload == {"n": 2}, "the next worker gets it at once"


async def test_a_long_job_is_kept_alive_and_not_run_twice(redis_client: Redis, key_prefix: str) -> None:
    jobs = queue(redis_client, key_prefix, reclaim_after_s=0.3)
    runs = 0

    async def slow(kind: str, payload: dict[str, Any]) -> bool:
        nonlocal runs
        runs += 1
        await asyncio.sleep(1.5)  # five reclaim periods
        return True

    workers = [JobWorker(jobs, slow, block_ms=100, consumer=f"w{n}") for n in range(2)]
    running = [asyncio.create_task(w.run()) for w in workers]
    await jobs.enqueue("answer", {"n": 1})
    await until(lambda: _empty(redis_client, jobs))
    for worker in workers:
        await worker.drain()
    await asyncio.gather(*running)
    assert runs == 1


async def test_the_loop_survives_its_stream_being_deleted(redis_client: Redis, key_prefix: str) -> None:
    jobs = queue(redis_client, key_prefix, reclaim_after_s=0.2)
    seen: list[int] = []

    async def handle(kind: str, payload: dict[str, Any]) -> bool:
        seen.append(payload["n"])
        return True

    worker = JobWorker(jobs, handle, block_ms=100)
    running = asyncio.create_task(worker.run())
    await jobs.enqueue("answer", {"n": 1})
    await until(lambda: _equal(seen, [1]))
    await redis_client.delete(jobs.stream)  # a flushed or restarted Redis: the group is gone
    await asyncio.sleep(0.5)
    await jobs.enqueue("answer", {"n": 2})
    await until(lambda: _equal(seen, [1, 2]))
    await worker.drain()
    await running
    assert not running.exception()


async def _equal(seen: list[int], expected: list[int]) -> bool:
    return seen == expected


async def test_a_burst_of_jobs_is_stored_in_one_round_trip_each_with_its_own_id(
    redis_client: Redis, key_prefix: str
) -> None:
    jobs = queue(redis_client, key_prefix)
    ids = await asyncio.gather(*(jobs.enqueue("answer", {"n": n}) for n in range(50)))
    assert len(set(ids)) == 50
    stored: Any = await redis_client.xrange(jobs.stream)
    assert [entry_id for entry_id, _ in stored] == ids, "each caller got its own job's id, in order"
    assert [json.loads(fields["payload"])["n"] for _, fields in stored] == list(range(50))
