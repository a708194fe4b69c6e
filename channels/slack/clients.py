"""Which Web API client (which bot token) serves a workspace: one token by default, or each installed
workspace's own token from the installation store (multi-workspace OAuth)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.payloads import Workspace


class NotInstalled(LookupError):
    """A request or job from a workspace that has no installation (uninstalled since, or never)."""


class WorkspaceClients(Protocol):
    async def client_for(self, workspace: Workspace) -> AsyncWebClient: ...


class OneWorkspace:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def client_for(self, workspace: Workspace) -> AsyncWebClient:
        return self.client


class InstalledWorkspaces:
    """Each workspace's bot token, looked up per job (an uninstall takes effect at once); clients are
    reused per token, a bounded number of them."""

    def __init__(
        self, store: AsyncInstallationStore, make_client: Callable[[str], AsyncWebClient], keep: int = 256
    ) -> None:
        self.store = store
        self.make_client = make_client
        self.keep = keep
        self._clients: OrderedDict[str, AsyncWebClient] = OrderedDict()

    async def client_for(self, workspace: Workspace) -> AsyncWebClient:
        bot = await self.store.async_find_bot(
            enterprise_id=workspace.enterprise or None,
            team_id=None if workspace.enterprise_install else (workspace.team or None),
            is_enterprise_install=workspace.enterprise_install,
        )
        token = bot.bot_token if bot is not None else None
        if not token:
            raise NotInstalled(f"Switchboard is not installed in Slack workspace {workspace.team or '?'}")
        client = self._clients.pop(token, None) or self.make_client(token)
        self._clients[token] = client
        while len(self._clients) > self.keep:
            self._clients.popitem(last=False)
        return client
