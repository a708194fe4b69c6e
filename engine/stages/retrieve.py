"""Retrieve: the knowledge passages nearest to the message, read in context when it is a follow-up."""

from __future__ import annotations

import asyncio

import numpy as np

from engine.protocols import Embedder, EventSink, Retriever, Vectors
from engine.replies import reply_text
from engine.types import Retrieved, Turn


def best_score(hits: list[Retrieved]) -> float:
    return max((hit.score for hit in hits), default=-1.0)


class Retrieve:
    """`follow_up_below`: when the message alone matches no passage this well and the conversation has an
    earlier question, search again with both ("And for holiday purchases?" means little on its own). The
    joined search goes on when it matched better, with the message's own search beside it (`turn.alone`):
    a joined question matches its earlier question's page well whatever is asked next, so Weigh keeps
    whichever of the two holds the stronger evidence ("how do I change my plan?" after a price question)."""

    def __init__(self, retriever: Retriever, embedder: Embedder, top_k: int, follow_up_below: float) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.top_k = top_k
        self.follow_up_below = follow_up_below

    async def _search(self, text: str) -> tuple[list[Retrieved], Vectors]:
        vector = (await asyncio.to_thread(self.embedder.embed, [text]))[0]
        return await self.retriever.search(text, vector, self.top_k), vector

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        await events.status(reply_text("searching", turn.speaks))
        text = turn.query or turn.message.text  # in English when TranslateQuery translated it
        if turn.query_vector:
            vector = np.asarray(turn.query_vector, dtype=np.float32)
            hits = await self.retriever.search(text, vector, self.top_k)
        else:
            hits, vector = await self._search(text)
        earlier = [entry.text for entry in turn.history if entry.role == "user"]
        if earlier and not turn.query and best_score(hits) < self.follow_up_below:  # earlier: their own words
            in_context, joined = await self._search(f"{earlier[-1]} {text}")
            if best_score(in_context) > best_score(hits):
                # the joined question's vector, so later stages weigh evidence against what was searched
                return turn.evolve(
                    retrieved=tuple(in_context),
                    follows_up=earlier[-1],
                    query_vector=tuple(map(float, joined)),
                    alone=(tuple(hits), tuple(map(float, vector))),
                )
        return turn.evolve(retrieved=tuple(hits), query_vector=tuple(map(float, vector)))
