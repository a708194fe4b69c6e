"""The plug points. `engine` defines them; `bot` wires implementations from the other packages in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from engine.types import ConversationRef, HistoryEntry, Redacted, ReplyEvent, Retrieved, TokenStats, Turn

Vectors = npt.NDArray[np.float32]


class StoreUnavailable(Exception):
    """A store (memory, escalation records) could not be reached in time. Stages degrade instead of
    failing: an answer is never thrown away because a store is down."""


class EventSink(Protocol):
    """What a stage may say while it works; the engine streams it to the channel."""

    async def status(self, text: str) -> None: ...

    async def token(self, text: str) -> None: ...


@runtime_checkable
class Stage(Protocol):
    async def __call__(self, turn: Turn, events: EventSink) -> Turn: ...


class Redactor(Protocol):
    """Finds personal data in text and replaces it with typed placeholders (`<EMAIL_1>`)."""

    def redact(self, text: str) -> tuple[str, tuple[Redacted, ...]]: ...

    def redact_document(self, text: str) -> tuple[str, tuple[Redacted, ...]]:
        """The same for a knowledge page (whose product names are not people)."""
        ...


class Embedder(Protocol):
    """Blocking and CPU-heavy: callers run it off the event loop."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        ...


class Retriever(Protocol):
    async def search(self, text: str, query_vector: Vectors, k: int) -> list[Retrieved]:
        """The k best passages, best first; `Retrieved.score` is the dense cosine similarity."""
        ...


class MemoryStore(Protocol):
    """Raises StoreUnavailable when the store cannot be reached."""

    async def history(self, conversation: ConversationRef, limit: int) -> list[HistoryEntry]: ...

    async def append(self, conversation: ConversationRef, entries: Sequence[HistoryEntry]) -> None: ...

    async def ping(self) -> bool: ...


class EscalationRecorder(Protocol):
    """Where hand-overs are recorded for the people who take them; raises StoreUnavailable when down."""

    async def open(
        self,
        conversation: ConversationRef,
        message_id: str,
        reason: str,
        question: str,
        reply: str,
        sources: Sequence[str] = (),
        confidence: float = 0.0,
        language: str = "",
        earlier: Sequence[tuple[str, str]] = (),  # (role, text) said before, oldest first, for the agent
    ) -> object: ...


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_new_tokens: int = 160
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_prompt_tokens: int = 1024  # a longer prompt is refused (PromptTooLong) instead of holding the model
    adapter: str | None = None  # a segment's adapter (loaded by name; a remote server's model); None: base


class GenerationUnavailable(Exception):
    """The model could not answer (a remote server down, refusing, or cut off); the caller answers with
    the verbatim sentences instead."""


class PromptTooLong(Exception):
    """The prompt is over `max_prompt_tokens`; the caller answers without the model."""

    def __init__(self, tokens: int | None, budget: int) -> None:
        counted = f"has {tokens} tokens" if tokens is not None else "is too long for the model server"
        super().__init__(f"the prompt {counted}, over the budget of {budget}")
        self.tokens = tokens
        self.budget = budget


class Generator(Protocol):
    @property
    def name(self) -> str: ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_stats: Callable[[TokenStats], None] | None = None,
    ) -> AsyncIterator[str]:
        """Text deltas as the model produces them; closing the iterator stops generation. When the answer
        is whole, `on_stats` gets its tokens' log-probability statistics (if the model gives them)."""
        ...


class ReplyPublisher(Protocol):
    async def publish(self, event: ReplyEvent) -> None: ...


class IngressLedger(Protocol):
    """Which inbound events (a Slack event, a mobile Idempotency-Key) are being or have been answered, so a
    retried delivery is answered once. A claim whose processing died expires and can be claimed again."""

    async def claim(self, key: str) -> bool:
        """True when the caller should process the event now (new, or its earlier processing died)."""
        ...

    async def done(self, key: str) -> None:
        """Processing finished: retries are ignored until the record expires."""
        ...

    async def release(self, key: str) -> None:
        """Processing failed before any effect: let a retry process it."""
        ...

    async def state(self, key: str) -> str | None:
        """`processing`, `done`, or None when unknown (never seen, or expired)."""
        ...
