"""Slack's multi-workspace OAuth state in Redis: each workspace's installation (its bot token) and the
single-use `state` values that tie an OAuth redirect to the browser that started it.

Keys live under `{prefix}:slack:install:{enterprise}-{team}` (`none` for a missing id), so every server and
worker process sees an install at once. Tokens are stored as Slack issues them: protect Redis as the secret
store it is (it also holds conversation history).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from memory.store import unavailable_as_store_error

log = logging.getLogger(__name__)
NONE = "none"


class RedisInstallationStore(AsyncInstallationStore):
    def __init__(self, client: Redis, prefix: str = "sb") -> None:
        self.client = client
        self.prefix = prefix

    @property
    def logger(self) -> logging.Logger:
        return log

    def _key(self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False) -> str:
        team = NONE if is_enterprise_install else (team_id or NONE)
        return f"{self.prefix}:slack:install:{enterprise_id or NONE}-{team}"

    async def async_save(self, installation: Installation) -> None:
        key = self._key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        entity = json.dumps(installation.__dict__)
        async with unavailable_as_store_error():
            await self.client.hset(
                key, mapping={"installer:latest": entity, f"installer:{installation.user_id or NONE}": entity}
            )
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return
        key = self._key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        async with unavailable_as_store_error():
            await self.client.hset(key, "bot", json.dumps(bot.__dict__))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        async with unavailable_as_store_error():
            raw: Any = await self.client.hget(self._key(enterprise_id, team_id, is_enterprise_install), "bot")
        return Bot(**json.loads(raw)) if raw else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        field = f"installer:{user_id}" if user_id is not None else "installer:latest"
        async with unavailable_as_store_error():
            raw: Any = await self.client.hget(self._key(enterprise_id, team_id, is_enterprise_install), field)
        if not raw:
            return None
        installation = Installation(**json.loads(raw))
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        if bot is not None and bot.bot_token != installation.bot_token:  # the latest bot token wins
            installation.bot_id, installation.bot_user_id = bot.bot_id, bot.bot_user_id
            installation.bot_token, installation.bot_scopes = bot.bot_token, bot.bot_scopes
            installation.bot_refresh_token = bot.bot_refresh_token
            installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The bot's token revoked (`tokens_revoked`): gone from the installers' records too, where a copy of
        it was kept (a revoked secret is still a secret). Atomic, and only that token: an install landing
        meanwhile keeps its fresh one."""
        key = self._key(enterprise_id, team_id)
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    records: Any = await pipe.hgetall(key)
                    bot = json.loads(records["bot"]) if records.get("bot") else {}
                    revoked = bot.get("bot_token")
                    scrubbed = {}
                    for field, raw in records.items():
                        record = json.loads(raw) if str(field).startswith("installer:") else {}
                        if revoked and record.get("bot_token") == revoked:
                            record.update(bot_token=None, bot_refresh_token=None, bot_token_expires_at=None)
                            scrubbed[field] = json.dumps(record)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hdel(key, "bot")
                    if scrubbed:
                        pipe.hset(key, mapping=scrubbed)
                    await pipe.execute()
                    return
                except WatchError:
                    continue  # changed meanwhile (an install): read again

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        key = self._key(enterprise_id, team_id)
        async with unavailable_as_store_error():
            if user_id is not None:
                await self.client.hdel(key, f"installer:{user_id}")
                return
            fields: Any = await self.client.hkeys(key)
            installers = [f for f in fields if str(f).startswith("installer:")]
            if installers:
                await self.client.hdel(key, *installers)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with unavailable_as_store_error():
            await self.client.delete(self._key(enterprise_id, team_id))


class RedisOAuthStateStore(AsyncOAuthStateStore):
    """OAuth `state` values, each valid once and for `expiration_s` (GETDEL, so two redirects cannot both
    use one)."""

    def __init__(self, client: Redis, prefix: str = "sb", expiration_s: int = 600) -> None:
        self.client = client
        self.prefix = prefix
        self.expiration_s = expiration_s

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        async with unavailable_as_store_error():
            await self.client.set(f"{self.prefix}:slack:oauth-state:{state}", "1", ex=self.expiration_s)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state or len(state) > 200:
            return False
        async with unavailable_as_store_error():
            return bool(await self.client.getdel(f"{self.prefix}:slack:oauth-state:{state}"))
