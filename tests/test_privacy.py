"""`switchboard memory export|forget USER`: everything kept about a user, and nothing left after erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bot.settings import FileConfig, Settings
from engine.types import ConversationRef
from memory.feedback import RedisFeedbackStore
from tests.conftest import ask
from tests.test_cli import cli_env, run_cli

GONE, KEPT = "erase-me@shop", "keep-me"


async def test_export_then_forget_leaves_nothing_of_the_user(
    served: str, settings: Settings, file_config: FileConfig, redis_client: Redis, tmp_path: Path
) -> None:
    prefix = file_config.memory.prefix
    await ask(served, GONE, "how long do I have to return an item?")
    handed = await ask(served, GONE, "I want to talk to a real person please")
    assert handed["metadata"]["escalated"]
    await ask(served, KEPT, "do you ship abroad?")
    await RedisFeedbackStore(redis_client, prefix=prefix).record(ConversationRef("rest", "c", GONE), "m-1", "up")
    dead = f"{prefix}:slack:jobs:dead"
    mine = {"workspace": {"team": "T1"}, "event": {"user": GONE, "text": "where is my parcel", "channel": "D1"}}
    theirs = {"workspace": {"team": "T1"}, "event": {"user": "U-other", "text": f"cc <@{GONE}>", "channel": "C1"}}
    await redis_client.xadd(dead, {"kind": "answer", "payload": json.dumps(mine), "reason": "test"})
    await redis_client.xadd(dead, {"kind": "answer", "payload": json.dumps(theirs), "reason": "test"})
    # an index entry whose record already expired (records have a TTL, index entries do not)
    await redis_client.zadd(f"{prefix}:escalations:open", {"erase-me%40shop/expired0001": 1.0})

    yaml = tmp_path / "switchboard.yaml"
    yaml.write_text(f"memory:\n  prefix: {prefix}\n")
    assert settings.redis_url is not None
    env = cli_env(tmp_path / "home", REDIS_URL=settings.redis_url.get_secret_value(), SWITCHBOARD_CONFIG=str(yaml))

    exported = run_cli(["memory", "export", GONE], env, tmp_path)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    text = json.dumps(data)
    assert "how long do I have to return an item?" in text
    assert "talk to a real person" in text, "the escalation record is part of it"
    assert any(name.startswith("feedback:") for name in data["records"])
    assert "do you ship abroad" not in text, "another user's messages are not"
    assert [d["event"]["text"] for d in data["dead_letters"]] == ["where is my parcel"]

    forgotten = run_cli(["memory", "forget", GONE], env, tmp_path)
    assert forgotten.returncode == 0, forgotten.stderr
    report = json.loads(forgotten.stdout)
    assert report["escalation_index_entries"] >= 2
    assert report["dead_letters"] == 1
    assert len(report["keys"]) >= 3

    quoted = "erase-me%40shop"
    async for key in redis_client.scan_iter(match="*", count=1000):  # the whole database
        assert GONE not in key
        assert quoted not in key
        kind = await redis_client.type(key)
        if kind == "zset":
            assert not [m for m in await redis_client.zrange(key, 0, -1) if quoted in m or GONE in m], key
        if kind == "stream" and key != dead:
            assert GONE not in json.dumps(await redis_client.xrange(key)), key
    left: Any = await redis_client.xrange(dead)
    assert [json.loads(fields["payload"])["event"]["user"] for _, fields in left] == ["U-other"], "theirs stays"
    again = json.loads(run_cli(["memory", "export", GONE], env, tmp_path).stdout)
    assert again["records"] == {}
    kept = json.loads(run_cli(["memory", "export", KEPT], env, tmp_path).stdout)
    assert "do you ship abroad" in json.dumps(kept), "other users keep their data"
