"""Continuous batching: concurrent conversations share the local model's decoding steps.

On a CPU (and even more on a GPU) one decoding step reads every weight once, whether it computes the next
token of one answer or of eight; decode is bound by that read, so a step for eight costs little more than
a step for one. The batcher runs on the model's one thread: a new request is prefilled on its own (exactly
as alone), then joins the running batch, whose key/value caches are kept left-padded to a common length
with an attention mask that hides the padding. Every step appends one token to every answer; an answer
that ends, or whose client left (its stop flag), leaves the batch at the next step and frees its slot.

Greedy answers equal one-at-a-time answers up to floating-point ties (a batched matrix product may round
differently); bench/generate.py counts how many differ.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from engine.protocols import GenerationParams, GenerationUnavailable
from engine.types import TokenStats

log = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch
PREFIXES_KEPT = 8  # shared prompt prefixes whose key/value caches are kept (per adapter)


class GenerationBusy(GenerationUnavailable):
    """Every slot is taken and the waiting line is full: the caller answers without the model."""


@dataclass(eq=False)
class Request:
    """One answer being written. `prepare` runs on the batcher's thread (the tokenizer is not thread-safe)."""

    # the prompt's token ids, shape [1, n] (may raise PromptTooLong), and how many leading tokens are the
    # same for many requests (a fixed system prompt: their key/value cache is computed once and reused)
    prepare: Callable[[], tuple[torch.Tensor, int]]
    params: GenerationParams
    on_token: Callable[[torch.Tensor], None]  # each new token (the prompt first, as transformers streamers)
    on_end: Callable[[], None]
    stop: threading.Event
    adapter: str | None = None
    # scoring instead of writing: the probabilities of these next tokens (normalised over them) go to
    # `scores` after the prefill, and nothing is written
    choices: tuple[int, ...] = ()
    shared_prefix: int = 0
    scores: list[float] = field(default_factory=list)
    finished: bool = False
    result: Future[TokenStats | None] = field(default_factory=Future)
    ids: list[int] = field(default_factory=list)  # prompt and answer so far
    written: int = 0
    logprobs: list[float] = field(default_factory=list)


def _layers(cache: DynamicCache) -> list[Any]:
    """The cache's layers (DynamicLayer for the models used here: `keys`, `values` [batch, heads, positions, dim])."""
    return list(cache.layers)


class PaddedCache:
    """The batch's key/value cache: row i holds sequence i, left-padded to the longest."""

    def __init__(self) -> None:
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros((0, 0), dtype=torch.long)  # 1 where a cached position is real

    @property
    def length(self) -> int:
        return int(self.mask.shape[1])

    def add(self, single: DynamicCache, device: torch.device) -> None:
        """Append one sequence's cache (batch of one, no padding) as a new row."""
        new_length = single.get_seq_length()
        if self.cache is None or self.mask.shape[0] == 0:
            self.cache, self.mask = single, torch.ones((1, new_length), dtype=torch.long, device=device)
            return
        width = max(self.length, new_length)
        self._left_pad(self.cache, width - self.length)
        self._left_pad(single, width - new_length)
        for mine, theirs in zip(_layers(self.cache), _layers(single), strict=True):
            mine.keys = torch.cat([mine.keys, theirs.keys], dim=0)
            mine.values = torch.cat([mine.values, theirs.values], dim=0)
        row = torch.cat(
            [torch.zeros(width - new_length, dtype=torch.long), torch.ones(new_length, dtype=torch.long)]
        ).to(device)
        pad = torch.zeros((self.mask.shape[0], width - self.length), dtype=torch.long, device=device)
        self.mask = torch.cat([torch.cat([pad, self.mask], dim=1), row[None]], dim=0)

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows (finished or cancelled sequences leave), then drop padding all rows share."""
        if self.cache is None or rows == list(range(self.mask.shape[0])):
            return  # everyone stays: nothing to copy
        if not rows:
            self.cache, self.mask = None, self.mask[:0, :0]
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        for layer in _layers(self.cache):
            layer.keys, layer.values = layer.keys[index], layer.values[index]
        self.mask = self.mask[index]
        shared = int((self.mask.cumsum(dim=1) == 0).all(dim=0).sum())
        if shared:
            for layer in _layers(self.cache):
                layer.keys, layer.values = layer.keys[:, :, shared:], layer.values[:, :, shared:]
            self.mask = self.mask[:, shared:]

    def grow(self, width: int = 1) -> torch.Tensor:
        """The mask for a step that appends `width` real positions to every row."""
        ones = torch.ones((self.mask.shape[0], width), dtype=torch.long, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        return self.mask

    def drop_last(self, width: int) -> None:
        """Forget the last `width` positions of every row (draft tokens that were not accepted)."""
        if width > 0 and self.cache is not None:
            self.cache.crop(-width)
            self.mask = self.mask[:, :-width]

    @staticmethod
    def _left_pad(cache: DynamicCache, width: int) -> None:
        if width <= 0:
            return
        for layer in _layers(cache):
            keys, values = layer.keys, layer.values
            zeros = keys.new_zeros((keys.shape[0], keys.shape[1], width, keys.shape[3]))
            layer.keys = torch.cat([zeros, keys], dim=2)
            layer.values = torch.cat([zeros.clone(), values], dim=2)


def next_token(
    logits: torch.Tensor, request: Request, generator: torch.Generator | None, top_k: int | None = None
) -> tuple[int, float]:
    """The token chosen from one row of logits, as transformers' greedy or sampling decoding would choose
    it (repetition penalty over prompt and answer, then temperature, the model's top-k and top-p), with its
    log-probability under the distribution it was chosen from."""
    params = request.params
    scores = logits.float().clone()
    if params.repetition_penalty != 1.0:
        seen = torch.tensor(request.ids, dtype=torch.long, device=scores.device)
        picked = scores.gather(0, seen)
        picked = torch.where(picked < 0, picked * params.repetition_penalty, picked / params.repetition_penalty)
        scores.scatter_(0, seen, picked)
    if params.temperature <= 0:
        token = int(scores.argmax())
        return token, float(torch.log_softmax(scores, dim=-1)[token])
    scores = scores / params.temperature
    if top_k and top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p < 1.0:
        ordered, order = scores.sort(descending=True)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative > params.top_p
        drop[1:] = drop[:-1].clone()
        drop[0] = False
        scores[order[drop]] = float("-inf")
    logprobs = torch.log_softmax(scores, dim=-1)
    token = int(torch.multinomial(logprobs.exp(), 1, generator=generator))
    return token, float(logprobs[token])


def lookup_draft(ids: list[int], most: int, ngram: int = 2) -> list[int]:
    """The tokens that followed the last `ngram` (then fewer) tokens where they first appeared earlier,
    as transformers' prompt-lookup candidate generator proposes them."""
    for size in range(min(ngram, len(ids) - 1), 0, -1):
        tail = ids[-size:]
        for start in range(len(ids) - size):
            if ids[start : start + size] == tail:
                follow = ids[start + size : start + size + most]
                if follow:
                    return follow
    return []


class Batcher:
    """Runs on one thread; `submit` from any thread. At most `max_batch` answers share a step and at most
    `max_waiting` wait for a slot (past that, GenerationBusy)."""

    def __init__(
        self,
        model: Any,
        stop_ids: set[int],
        device: str,
        max_batch: int = 8,
        max_waiting: int = 32,
        prompt_lookup: int = 0,
    ) -> None:
        if max_batch < 1 or max_waiting < 0:
            raise ValueError("max_batch must be at least 1 and max_waiting at least 0")
        self.model = model
        self.stop_ids = stop_ids
        self.device = torch.device(device)
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.prompt_lookup = prompt_lookup
        self._waiting: collections.deque[Request] = collections.deque()
        self._active: list[Request] = []
        self._cache = PaddedCache()
        self._wake = threading.Condition()
        self._closed = False
        self._sampler: torch.Generator | None = None
        self._prefixes: collections.OrderedDict[tuple[str | None, tuple[int, ...]], DynamicCache] = (
            collections.OrderedDict()
        )
        self.top_k = getattr(getattr(model, "generation_config", None), "top_k", None)  # as generate() samples
        kinds = {type(layer) for layer in DynamicCache(config=model.config).layers}
        if kinds - {DynamicLayer}:  # sliding-window or linear-attention layers: left padding would be wrong
            raise ValueError(
                f"continuous batching needs plain key/value caches, not {sorted(k.__name__ for k in kinds)}"
            )
        self._thread = threading.Thread(target=self._run, name="generator-batcher", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def submit(self, request: Request) -> Future[TokenStats | None]:
        with self._wake:
            if not self.alive:
                raise GenerationUnavailable("the model is shutting down")
            free = max(0, self.max_batch - len(self._active))
            if len(self._waiting) >= self.max_waiting + free:
                raise GenerationBusy(f"all {self.max_batch} answer slots are busy and {self.max_waiting} wait")
            self._waiting.append(request)
            self._wake.notify()
        return request.result

    def cancel(self, request: Request) -> None:
        """The caller left: a request still waiting leaves the line now (an admitted one at the next step,
        through its stop flag)."""
        request.stop.set()
        with self._wake:
            try:
                self._waiting.remove(request)
            except ValueError:
                return  # admitted already, or finished
        self._finish(request)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self._active:
                    self._wake.wait()
                if self._closed:
                    leftover = [*self._waiting, *self._active]
                    self._waiting.clear()
                    break
                admitted: list[Request] = []
                slots = self.max_batch - len(self._active)
                # scoring requests never join the batch: they do not wait for a slot
                for request in list(self._waiting):
                    if request.choices or len(admitted) < slots:
                        self._waiting.remove(request)
                        admitted.append(request)
                        slots -= 0 if request.choices else 1
            try:
                for request in admitted:
                    self._admit(request)
                if len(self._active) == 1 and not self._waiting and self._lookup_step(self._active[0]):
                    continue
                if self._active:
                    self._step()
            except Exception as error:  # a bug or out of memory mid-step: fail what ran, keep serving
                log.exception("the batcher failed a step; its answers end with an error")
                for request in [*admitted, *self._active]:
                    self._finish(request, GenerationUnavailable(f"the model failed: {error}"))
                self._active = []
                self._cache = PaddedCache()
        for request in leftover:
            self._finish(request, GenerationUnavailable("the model is shutting down"))

    def _admit(self, request: Request) -> None:
        """Prefill one request alone and write its first token; it joins the batch if it goes on."""
        if request.stop.is_set():  # left while it waited: it never reaches the model
            self._finish(request)
            return
        try:
            prompt, request.shared_prefix = request.prepare()
            request.ids = [int(t) for t in prompt[0].tolist()]
            request.on_token(prompt)
            single, start = self._prefix_cache(request)
            with torch.inference_mode():
                inputs = prompt[:, start:].to(self.device)
                # logits for the last position only: the prompt's other positions predict nothing needed
                out = self.model(
                    input_ids=inputs, cache=single, use_cache=True, logits_to_keep=1, **self._adapters([request])
                )
            if request.choices:
                chosen = out.logits[0, -1, list(request.choices)].float()
                request.scores = [float(p) for p in torch.softmax(chosen, dim=-1)]
                self._finish(request)
                return
            self._write(request, out.logits[0, -1])
        except Exception as error:  # the request's caller sees it; the batcher keeps serving others
            self._finish(request, error)
            return
        if self._done(request):
            self._finish(request)
            return
        self._cache.add(single, self.device)
        self._active.append(request)

    def _prefix_cache(self, request: Request) -> tuple[DynamicCache, int]:
        """A cache already holding the request's shared prefix (computed once, copied for each request),
        and where its own tokens start; an empty cache and 0 when it declares none."""
        size = request.shared_prefix
        if size <= 0 or size >= len(request.ids):
            return DynamicCache(config=self.model.config), 0
        key = (request.adapter, tuple(request.ids[:size]))
        stored = self._prefixes.get(key)
        if stored is None:
            stored = DynamicCache(config=self.model.config)
            with torch.inference_mode():
                prefix = torch.tensor([request.ids[:size]], dtype=torch.long, device=self.device)
                self.model(
                    input_ids=prefix, cache=stored, use_cache=True, logits_to_keep=1, **self._adapters([request])
                )
            self._prefixes[key] = stored
            while len(self._prefixes) > PREFIXES_KEPT:
                self._prefixes.popitem(last=False)
        self._prefixes.move_to_end(key)
        return copy.deepcopy(stored), size

    def _step(self) -> None:
        """One decoding step for every answer in the batch."""
        requests = self._active
        last = torch.tensor([[r.ids[-1]] for r in requests], dtype=torch.long, device=self.device)
        positions = torch.tensor([[len(r.ids) - 1] for r in requests], dtype=torch.long, device=self.device)
        mask = self._cache.grow()
        try:
            with torch.inference_mode():
                out = self.model(
                    input_ids=last,
                    attention_mask=mask,
                    position_ids=positions,
                    cache=self._cache.cache,
                    use_cache=True,
                    **self._adapters(requests),
                )
        except Exception as error:  # a failed step fails the batch, not the thread
            for request in requests:
                self._finish(request, error)
            self._active = []
            self._cache.keep([])
            return
        kept = []
        for row, request in enumerate(requests):
            try:
                self._write(request, out.logits[row, -1])
            except Exception as error:  # e.g. a streamer callback failing: that answer ends
                self._finish(request, error)
                continue
            if self._done(request):
                self._finish(request)
            else:
                kept.append(row)
        self._active = [requests[row] for row in kept]
        self._cache.keep(kept)

    def _lookup_step(self, request: Request) -> bool:
        """Prompt-lookup decoding while one greedy answer runs alone: tokens that follow the latest words
        where they appeared before (answers copy the help centre's phrases) are checked in one forward pass,
        and the ones greedy decoding would have written are kept. False when there is nothing to check."""
        params = request.params
        room = params.max_new_tokens - request.written - 1
        if self.prompt_lookup <= 0 or params.temperature > 0 or room <= 0:
            return False
        draft = lookup_draft(request.ids, min(self.prompt_lookup, room))
        if not draft:
            return False
        mask = self._cache.grow(1 + len(draft))
        positions = torch.arange(len(request.ids) - 1, len(request.ids) + len(draft), device=self.device)[None]
        try:
            with torch.inference_mode():
                out = self.model(
                    input_ids=torch.tensor([[request.ids[-1], *draft]], dtype=torch.long, device=self.device),
                    attention_mask=mask,
                    position_ids=positions,
                    cache=self._cache.cache,
                    use_cache=True,
                    **self._adapters([request]),
                )
            accepted = 0
            for position in range(len(draft) + 1):
                self._write(request, out.logits[0, position])
                if self._done(request) or position == len(draft) or request.ids[-1] != draft[position]:
                    break
                accepted += 1
        except Exception as error:  # that answer ends; the thread keeps serving
            self._finish(request, error)
            self._active = []
            self._cache.keep([])
            return True
        self._cache.drop_last(len(draft) - accepted)
        if self._done(request):
            self._finish(request)
            self._active = []
            self._cache.keep([])
        return True

    def _write(self, request: Request, logits: torch.Tensor) -> None:
        token, logprob = next_token(logits, request, self._sampler, self.top_k)
        request.ids.append(token)
        request.written += 1
        if token not in self.stop_ids:
            request.logprobs.append(logprob)  # the end-of-answer token is not part of the answer
            request.on_token(torch.tensor([token]))

    def _done(self, request: Request) -> bool:
        return (
            request.stop.is_set()
            or request.ids[-1] in self.stop_ids
            or request.written >= request.params.max_new_tokens
        )

    def _finish(self, request: Request, error: BaseException | None = None) -> None:
        """End the request once: its stream ends and its future resolves (never raises: the thread goes on)."""
        if request.finished:
            return
        request.finished = True
        try:
            request.on_end()
        except Exception:  # e.g. the caller's event loop closed: nobody is listening any more
            log.debug("a finished request's end callback failed", exc_info=True)
        with contextlib.suppress(InvalidStateError):  # cancelled by its caller meanwhile
            if error is not None:
                request.result.set_exception(error)
            else:
                request.result.set_result(TokenStats.of(request.logprobs))

    def _adapters(self, requests: list[Request]) -> dict[str, Any]:
        """Each row's adapter, for peft's mixed-adapter batches; nothing when no adapter is loaded."""
        if not getattr(self.model, "peft_config", None):
            return {}
        return {"adapter_names": [r.adapter or BASE_ADAPTER for r in requests]}
