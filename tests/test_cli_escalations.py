"""`switchboard escalations` as an agent without Slack uses it: list the queue, reply, resolve."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine.types import ConversationRef
from memory.escalations import RedisEscalationStore
from memory.web import RedisFrameLog
from tests.test_cli import cli_env, run_cli


@pytest.fixture
async def desk(redis_url: str) -> AsyncIterator[tuple[RedisEscalationStore, str]]:
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}"
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    yield RedisEscalationStore(client, prefix=prefix), prefix
    async for key in client.scan_iter(match=f"{prefix}:*", count=500):
        await client.delete(key)
    await client.aclose()


async def test_an_agent_replies_to_a_web_customer_from_the_command_line(
    desk: tuple[RedisEscalationStore, str], redis_url: str, tmp_path: Path
) -> None:
    store, prefix = desk
    (tmp_path / "switchboard.yaml").write_text(f"memory:\n  prefix: {prefix}\n", encoding="utf-8")
    env = cli_env(tmp_path, REDIS_URL=redis_url)
    web = ConversationRef("web", "c-cli", "web-user-1")
    earlier = [("customer", "is a cracked screen covered?"), ("assistant", "Accidental damage is not covered.")]
    record = await store.open(
        web, "m-1", "human_request", "my parcel arrived broken", "Connecting you", language="en", earlier=earlier
    )
    rest = await store.open(ConversationRef("rest", "r-1", "rest-user-1"), "m-2", "not_answerable", "q", "r")

    listed = await asyncio.to_thread(run_cli, ["escalations"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert record.id in listed.stdout
    assert "my parcel arrived broken" in listed.stdout
    assert "earlier, customer: 'is a cracked screen covered?'" in listed.stdout  # how the customer got here

    text = "Sorry about that! I've sent a replacement; it ships today.\nTracking follows by email."
    reply = ["escalations", "--reply", record.id, "--user", "web-user-1", "--agent", "ann", "--text", text]
    sent = await asyncio.to_thread(run_cli, [*reply, "--as", "Ann"], env, tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "web conversation" in sent.stdout
    assert "claimed by you" in sent.stdout
    [frame] = await RedisFrameLog(store.client, prefix).since("web-user-1", "c-cli", 0)
    assert frame["type"] == "final"
    assert frame["reply"]["response"] == text  # its lines kept
    assert frame["reply"]["metadata"]["intent"] == "agent_reply"
    assert frame["reply"]["metadata"]["agent"] == "Ann"
    claimed = await store.get("web-user-1", record.id)
    assert claimed is not None
    assert (claimed.state, claimed.claimed_by, claimed.agent_replies) == ("claimed", "ann", 1)

    someone_else = [*reply[:6], "bob", "--text", "hi"]
    refused = await asyncio.to_thread(run_cli, someone_else, env, tmp_path)
    assert refused.returncode != 0
    assert "claimed by ann" in refused.stderr
    unreachable = ["escalations", "--reply", rest.id, "--user", "rest-user-1", "--agent", "ann", "--text", "hi"]
    refused = await asyncio.to_thread(run_cli, unreachable, env, tmp_path)
    assert refused.returncode != 0
    assert "callback_url" in refused.stderr
    unknown = ["escalations", "--reply", "0" * 32, "--user", "web-user-1", "--agent", "ann", "--text", "hi"]
    wrong = await asyncio.to_thread(run_cli, unknown, env, tmp_path)
    assert wrong.returncode != 0
    assert "no escalation" in wrong.stderr
    assert "recognizers" not in wrong.stderr, "said at once, before anything slow loads"
    missing = await asyncio.to_thread(run_cli, reply[:6], env, tmp_path)
    assert missing.returncode != 0
    assert "--text" in missing.stderr
    assert len(await RedisFrameLog(store.client, prefix).since("web-user-1", "c-cli", 0)) == 1, "nothing else sent"

    resolve = ["escalations", "--resolve", record.id, "--user", "web-user-1", "--agent", "ann"]
    resolved = await asyncio.to_thread(run_cli, resolve, env, tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    assert f"{record.id} is now resolved" in resolved.stdout
