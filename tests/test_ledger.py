"""The ingress ledger on real Redis: one processing per event, retries dropped, a dead claim expires."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from memory.ledger import RedisDeliveryNotes, RedisIngressLedger
from memory.privacy import UserData


async def test_concurrent_deliveries_of_one_event_are_claimed_once(redis_client: Redis, key_prefix: str) -> None:
    ledger = RedisIngressLedger(redis_client, prefix=key_prefix)
    claims = await asyncio.gather(*(ledger.claim("T1:C1:1700000000.000100") for _ in range(4)))
    assert sorted(claims) == [False, False, False, True]
    assert await ledger.state("T1:C1:1700000000.000100") == "processing"


async def test_a_done_event_is_not_claimed_again_but_another_is(redis_client: Redis, key_prefix: str) -> None:
    ledger = RedisIngressLedger(redis_client, prefix=key_prefix)
    assert await ledger.claim("Ev1")
    await ledger.done("Ev1")
    assert not await ledger.claim("Ev1")
    assert await ledger.state("Ev1") == "done"
    assert await ledger.claim("Ev2")


async def test_a_claim_whose_processing_died_expires_and_is_claimed_again(redis_client: Redis, key_prefix: str) -> None:
    ledger = RedisIngressLedger(redis_client, prefix=key_prefix, lease_s=0.2)
    assert await ledger.claim("Ev3")
    assert not await ledger.claim("Ev3")
    await asyncio.sleep(0.35)  # the process holding the lease never finished
    assert await ledger.claim("Ev3")


async def test_a_released_claim_is_processed_by_the_retry(redis_client: Redis, key_prefix: str) -> None:
    ledger = RedisIngressLedger(redis_client, prefix=key_prefix)
    assert await ledger.claim("Ev4")
    await ledger.release("Ev4")
    assert await ledger.claim("Ev4")


async def test_keys_cannot_collide_through_separators(redis_client: Redis, key_prefix: str) -> None:
    ledger = RedisIngressLedger(redis_client, prefix=key_prefix)
    assert await ledger.claim("a:b")
    assert await ledger.claim("a%3Ab"), "an id that spells another's encoding is its own key"


async def test_a_late_failure_does_not_reopen_an_event_another_delivery_finished(
    redis_client: Redis, key_prefix: str
) -> None:
    ledger = RedisIngressLedger(redis_client, prefix=key_prefix)
    assert await ledger.claim("Ev5")
    await ledger.done("Ev5")  # another worker, handed the job after this one stalled, finished it
    await ledger.release("Ev5")  # the stalled one fails late
    assert await ledger.state("Ev5") == "done"
    assert not await ledger.claim("Ev5")


async def test_delivery_notes_live_under_their_users_keys_and_go_with_them(
    redis_client: Redis, key_prefix: str
) -> None:
    notes = RedisDeliveryNotes(redis_client, prefix=key_prefix, keep_s=60)
    await notes.note("U1", "T1:D1:1700000000.000100", '{"ts": "1700000001.000200"}')
    assert await notes.noted("U1", "T1:D1:1700000000.000100") == '{"ts": "1700000001.000200"}'
    assert await notes.noted("U2", "T1:D1:1700000000.000100") is None  # another user's post is another key
    data = UserData(redis_client, prefix=key_prefix)
    assert any(":delivery:" in key for key in await data.keys("U1"))  # exported and erased with the user
    assert 0 < await redis_client.pttl(next(k for k in await data.keys("U1") if ":delivery:" in k)) <= 60_000
    await notes.drop("U1", "T1:D1:1700000000.000100")
    assert await notes.noted("U1", "T1:D1:1700000000.000100") is None
