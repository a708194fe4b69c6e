"""Memory on a real Redis (REDIS_URL, or the embedded server)."""

from __future__ import annotations

import time
from pathlib import Path

from redis.asyncio import Redis

from engine.handover import WITHHELD
from engine.pipeline import Engine, NoEvents
from engine.protocols import EventSink
from engine.stages.recall import WITHHELD_INJECTION, Recall
from engine.types import ConversationRef, HistoryEntry, Message, Reply, Turn
from memory.embedded import EmbeddedRedis
from memory.store import RedisMemoryStore


def conversation(user: str = "u1", conv: str = "c1") -> ConversationRef:
    return ConversationRef("rest", conv, user)


async def test_history_round_trip_in_order(memory: RedisMemoryStore) -> None:
    await memory.append(conversation(), [HistoryEntry("user", "hi"), HistoryEntry("assistant", "hello")])
    await memory.append(conversation(), [HistoryEntry("user", "again")])
    history = await memory.history(conversation(), 10)
    assert [(e.role, e.text) for e in history] == [("user", "hi"), ("assistant", "hello"), ("user", "again")]
    assert all(abs(e.at - time.time()) < 60 for e in history), "entries carry when they were written"
    assert [e.text for e in await memory.history(conversation(), 2)] == ["hello", "again"]
    assert await memory.history(conversation(), 0) == []


async def test_history_is_trimmed_and_expires(memory: RedisMemoryStore, redis_client: Redis) -> None:
    for i in range(10):
        await memory.append(conversation(), [HistoryEntry("user", f"m{i}")])
    kept = await memory.history(conversation(), 100)
    assert [e.text for e in kept] == [f"m{i}" for i in range(4, 10)]  # max_entries=6
    ttl = await redis_client.ttl(memory.history_key(conversation()))
    assert 0 < ttl <= memory.ttl_seconds


async def test_users_never_see_each_other(memory: RedisMemoryStore) -> None:
    await memory.append(conversation("alice", "shared-id"), [HistoryEntry("user", "alice's secret")])
    assert await memory.history(conversation("bob", "shared-id"), 10) == []
    # ids that try to forge key separators stay inside their own namespace
    sneaky = ConversationRef("rest", "x:history", "alice:conv:rest")
    assert memory.history_key(sneaky) != memory.history_key(conversation("alice", "x"))
    assert await memory.history(sneaky, 10) == []


async def test_forget_user_erases_only_that_user(memory: RedisMemoryStore) -> None:
    await memory.append(conversation("carol", "a"), [HistoryEntry("user", "1")])
    await memory.append(conversation("carol", "b"), [HistoryEntry("user", "2")])
    await memory.append(conversation("carol*", "a"), [HistoryEntry("user", "glob twin")])
    assert await memory.forget_user("carol") == 2
    assert await memory.history(conversation("carol", "a"), 10) == []
    assert len(await memory.history(conversation("carol*", "a"), 10)) == 1


async def test_unreadable_entries_are_skipped(memory: RedisMemoryStore, redis_client: Redis) -> None:
    key = memory.history_key(conversation())
    await redis_client.rpush(key, "not json", '{"role": "user", "text": "ok"}')
    assert await memory.history(conversation(), 10) == [HistoryEntry("user", "ok")]


async def test_a_conversation_left_idle_starts_afresh(memory: RedisMemoryStore) -> None:
    hour_ago = time.time() - 3600
    await memory.append(conversation(conv="old"), [HistoryEntry("user", "where is my order?", at=hour_ago)])
    await memory.append(conversation(conv="new"), [HistoryEntry("user", "where is my order?")])
    recall = Recall(memory, read_entries=8, idle_s=1800)
    for conv, expected in (("old", ()), ("new", ("where is my order?",))):
        message = Message(conversation(conv=conv), "and for holiday purchases?", message_id=f"m-{conv}")
        turn = await recall(Turn(message=message), NoEvents())
        assert tuple(e.text for e in turn.history) == expected


async def test_a_message_too_short_to_tell_is_answered_in_the_customers_earlier_language(
    memory: RedisMemoryStore,
) -> None:
    spanish = "hola, mi pedido llegó roto y nadie me contesta"
    await memory.append(
        conversation(conv="es"),
        [
            HistoryEntry("user", spanish),
            HistoryEntry("assistant", "You have 30 days to return an item."),  # the help centre's English
            HistoryEntry("user", WITHHELD_INJECTION),  # our markers are not the customer's language
            HistoryEntry("user", WITHHELD),
        ],
    )
    # through the engine, as a message goes: the language a turn settles on is what its reply is written in
    engine = Engine([Recall(memory, read_entries=8), SayLanguage()])

    async def spoken(conv: str, text: str) -> str:
        return (await engine.run(Message(conversation(conv=conv), text, message_id=f"m-{conv}"), NoEvents())).text

    assert await spoken("es", "agente por favor") == "es"
    assert await spoken("es", "I need to speak to someone about the refund") == "en", "what the message tells wins"
    assert await spoken("es", "¿y cuándo me devuelven el dinero?") == "es"
    assert await spoken("none", "agente por favor") == "en", "nothing to tell it from: the default"
    assert await Engine([Recall(memory, 8), SayLanguage()], reply_language="de").run(
        Message(conversation(conv="es"), "agente por favor", message_id="m-de"), NoEvents()
    ) == Reply("de", (), (), 1.0, "test", "customer", False), "a fixed setting wins over history"


class SayLanguage:
    """Replies with the language the turn settled on."""

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        return turn.evolve(reply=Reply(turn.speaks, (), (), 1.0, "test", "customer", False))


async def test_ping_tells_up_from_down(memory: RedisMemoryStore) -> None:
    assert await memory.ping()
    down: Redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    assert not await RedisMemoryStore(down, prefix="sbtest-down").ping()
    await down.aclose()


async def test_embedded_redis_persists_to_its_file(tmp_path: Path) -> None:
    dbfile = tmp_path / "persist.rdb"
    server = EmbeddedRedis(dbfile)
    client: Redis = Redis.from_url(server.url, decode_responses=True)
    store = RedisMemoryStore(client, prefix="persist")
    await store.append(conversation(), [HistoryEntry("user", "remember me")])
    await client.aclose()
    server.close()
    assert dbfile.is_file()

    again = EmbeddedRedis(dbfile)
    client = Redis.from_url(again.url, decode_responses=True)
    store = RedisMemoryStore(client, prefix="persist")
    assert [e.text for e in await store.history(conversation(), 10)] == ["remember me"]
    await client.aclose()
    again.close()
