"""Retrieve: the knowledge passages nearest to the message."""

from __future__ import annotations

import asyncio

import numpy as np

from engine.protocols import Embedder, EventSink, Retriever
from engine.types import Turn


class Retrieve:
    def __init__(self, retriever: Retriever, embedder: Embedder, top_k: int) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.top_k = top_k

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if turn.query_vector:
            vector = np.asarray(turn.query_vector, dtype=np.float32)
        else:
            vector = (await asyncio.to_thread(self.embedder.embed, [turn.message.text]))[0]
        await events.status("Searching the help centre")
        hits = await self.retriever.search(turn.message.text, vector, self.top_k)
        return turn.evolve(retrieved=tuple(hits))
