"""A transformers causal LM (optionally with a LoRA adapter) that streams text deltas.

The forward passes run on one dedicated thread, so the event loop never blocks; concurrent answers share
its decoding steps (continuous batching, engine/generation/batcher.py) instead of fighting over the cores.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

from engine.generation.batcher import Batcher, Request
from engine.generation.int8 import quantize_rowwise, rowwise_supported
from engine.protocols import ChatMessage, GenerationParams, PromptTooLong
from engine.types import TokenStats

log = logging.getLogger(__name__)

_END = object()


QUANTIZE = ("none", "int8", "int8-rowwise")
ROWWISE_UNSUPPORTED = (
    "int8-rowwise needs oneDNN's int8 product (an x86 CPU with AVX-512 VNNI); this machine would run a slow "
    "fallback: use int8 or none"
)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    device: str = "auto"  # auto | cpu | cuda
    quantize: str = "none"  # none | int8 (dynamic, per-tensor activations) | int8-rowwise (per-token); CPU only
    adapter: str | None = None  # path of a peft LoRA adapter, merged into the weights
    # segments' adapters, (name, path): kept apart and chosen per request by GenerationParams.adapter
    adapters: tuple[tuple[str, str], ...] = ()
    threads: int = 0  # 0: torch's default
    # Prompt-lookup decoding: up to this many tokens copied from the prompt are checked in one forward pass
    # (answers repeat the extract's phrases). Greedy output is unchanged; 0 turns it off.
    prompt_lookup: int = 10
    max_batch: int = 8  # answers that share one decoding step
    max_waiting: int = 32  # answers waiting for a slot; past that GenerationBusy (answered without the model)

    def check(self, device: str) -> None:
        """What these options cannot do on `device`, as one line (ValueError), before anything is loaded."""
        if self.quantize not in QUANTIZE:
            raise ValueError(f"quantize: unknown {self.quantize!r} (one of {', '.join(QUANTIZE)})")
        if self.adapters and self.quantize != "none":
            raise ValueError("segments: adapters need float weights (SWITCHBOARD_QUANTIZE=none)")
        if device == "cpu" and self.quantize == "int8-rowwise" and not rowwise_supported():
            raise ValueError(f"SWITCHBOARD_QUANTIZE: {ROWWISE_UNSUPPORTED}")


def serving_limits(quantize: str, prompt_lookup: int, max_batch: int) -> tuple[int, int]:
    """Prompt-lookup tokens and batch size for these weights.

    Dynamic int8 scales activations over a whole forward pass: scoring several positions at once, or
    several customers' rows, changes the rounding and the greedy answers with it, so it answers one at a
    time without lookup. Row-wise int8 scales each row alone and its products are exact; what still
    differs is the float attention's last bits (padding, query count), which its rounding can amplify:
    bench/generate.py counts the demo answers that change, docs/models.md reports them."""
    if quantize == "int8":
        return 0, 1
    return prompt_lookup, max_batch


def pick_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA device")
    return requested


class _DeltaStreamer(BaseStreamer):
    """Decodes new tokens incrementally and hands text deltas to the event loop thread-safely."""

    def __init__(self, tokenizer: Any, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[object]) -> None:
        self._tokenizer = tokenizer
        self._loop = loop
        self._queue = queue
        self._ids: list[int] = []
        self._sent = ""
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt
            self._prompt_seen = True
            return
        self._ids.extend(int(t) for t in value.reshape(-1).tolist())
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the next token
            return
        delta, self._sent = text[len(self._sent) :], text
        if delta:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, delta)

    def end(self) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, _END)


class LocalGenerator:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        label: str,
        device: str,
        prompt_lookup: int = 0,
        max_batch: int = 8,
        max_waiting: int = 32,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.label = label
        self.device = device
        self.prompt_lookup = prompt_lookup
        # every id that ends an answer: models like Qwen and Llama 3 stop on several
        stops = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        self.stop_ids = {*(stops if isinstance(stops, list) else [stops]), tokenizer.eos_token_id} - {None}
        self._closed = False
        # one thread owns the model: concurrent answers share its decoding steps (engine/generation/batcher.py)
        self._batcher = Batcher(model, self.stop_ids, device, max_batch, max_waiting, prompt_lookup)

    @property
    def name(self) -> str:
        return self.label

    @property
    def ready(self) -> bool:
        return not self._closed and self._batcher.alive

    @classmethod
    def load(cls, source: str, label: str, options: LoadOptions) -> LocalGenerator:
        device = pick_device(options.device)
        options.check(device)
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        tokenizer = AutoTokenizer.from_pretrained(source)
        model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        if options.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, options.adapter).merge_and_unload()
        if options.adapters:
            from peft import PeftModel

            (first, path), *more = options.adapters
            model = PeftModel.from_pretrained(model, path, adapter_name=first)
            for name, path in more:
                model.load_adapter(path, adapter_name=name)
        model.eval()
        if device != "cpu" and options.quantize != "none":
            log.warning("quantize=%s applies on the CPU only; the model runs in bf16 on %s", options.quantize, device)
        if device == "cpu" and options.quantize == "int8":
            model = quantize_int8(model)
        elif device == "cpu" and options.quantize == "int8-rowwise":
            model = quantize_rowwise(model)
        model.to(device)
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = tokenizer.eos_token_id
        quantize = options.quantize if device == "cpu" else "none"
        lookup, batch = serving_limits(quantize, options.prompt_lookup, options.max_batch)
        return cls(model, tokenizer, label, device, lookup, batch, options.max_waiting)

    def prompt_ids(
        self, messages: Sequence[ChatMessage], budget: int, tools: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenize on the generation thread only: the tokenizer is never shared across threads."""
        encoded = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tools=list(tools) if tools else None,
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        tokens = int(encoded["input_ids"].shape[-1])
        if tokens > budget:
            raise PromptTooLong(tokens, budget)
        return {key: value.to(self.device) for key, value in encoded.items()}

    def generate_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": sampling,
            "repetition_penalty": params.repetition_penalty,
        }
        if self.prompt_lookup > 0:
            kwargs["prompt_lookup_num_tokens"] = self.prompt_lookup
        if sampling:
            kwargs |= {"temperature": params.temperature, "top_p": params.top_p}
        else:  # silence "temperature is set but do_sample is False" from model generation configs
            kwargs |= {"temperature": None, "top_p": None, "top_k": None}
        return kwargs

    async def propose(self, messages: Sequence[ChatMessage], tools: Sequence[Mapping[str, Any]]) -> str:
        """`CallProposer`: the model's answer with `tools` offered through its chat template (greedy)."""
        params = GenerationParams(max_new_tokens=128)
        return "".join([piece async for piece in self.stream(messages, params, tools=tools)])

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_stats: Callable[[TokenStats], None] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> AsyncIterator[str]:
        self._check_adapter(params.adapter)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        streamer = _DeltaStreamer(self.tokenizer, loop, queue)
        request = Request(
            prepare=lambda: (self.prompt_ids(messages, params.max_prompt_tokens, tools)["input_ids"], 0),
            params=params,
            on_token=streamer.put,
            on_end=streamer.end,
            stop=threading.Event(),
            adapter=params.adapter,
        )
        future = asyncio.wrap_future(self._batcher.submit(request), loop=loop)
        try:
            while True:
                getter: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
                waiting: set[asyncio.Future[Any]] = {getter, future}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    future.result()  # generation raised before ending the stream: surface it
                    break
                item = getter.result()
                if item is _END:
                    break
                yield str(item)
            stats = await future
            if on_stats is not None and stats is not None:
                on_stats(stats)
        finally:
            # the consumer left early (or we are done): out of the line now, or out of the batch next step
            self._batcher.cancel(request)
            if not future.done():
                await asyncio.gather(future, return_exceptions=True)

    async def score(
        self,
        messages: Sequence[ChatMessage],
        choices: Sequence[str],
        adapter: str | None = None,
        budget: int = 2048,
        reuse_prefix: bool = True,
    ) -> list[float]:
        """The probability of each choice as the first token of the answer, normalised over the choices
        (one forward pass, nothing written). The system message's tokens are computed once and reused."""
        self._check_adapter(adapter)

        def prepare() -> tuple[torch.Tensor, int]:  # on the model's thread: the tokenizer is not shared
            ids = [self.tokenizer.encode(choice, add_special_tokens=False) for choice in choices]
            if any(not tokens for tokens in ids) or len({tokens[0] for tokens in ids}) != len(ids):
                raise ValueError(f"the choices {list(choices)} do not start with distinct tokens")
            request.choices = tuple(tokens[0] for tokens in ids)
            prompt = self.prompt_ids(messages, budget)["input_ids"]
            if not reuse_prefix or not messages or messages[0].role != "system":
                return prompt, 0
            fixed = self.prompt_ids([messages[0], ChatMessage("user", "")], budget)["input_ids"][0].tolist()
            shared = 0
            for mine, theirs in zip(prompt[0].tolist(), fixed, strict=False):
                if mine != theirs:
                    break
                shared += 1
            return prompt, shared

        request = Request(
            prepare=prepare,
            params=GenerationParams(max_new_tokens=1),
            on_token=lambda _: None,
            on_end=lambda: None,
            stop=threading.Event(),
            adapter=adapter,
            choices=(-1,),  # a scoring request (the real ids are set by `prepare`)
        )
        try:
            await asyncio.wrap_future(self._batcher.submit(request))
        finally:
            self._batcher.cancel(request)  # a caller that left frees its place in the line
        return request.scores

    def _check_adapter(self, name: str | None) -> None:
        if name is not None and name not in (getattr(self.model, "peft_config", None) or {}):
            raise ValueError(f"no adapter named {name!r} is loaded")

    def close(self) -> None:
        self._closed = True
        self._batcher.close()


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 Linear weights: 2-3x faster decode on CPU (decode is memory-bandwidth bound)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # quantize_dynamic is deprecated in favour of torchao, whose CPU path is 8-30x slower here.
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        # Per-channel scales: one scale per output row keeps small models' answers intact, where a single
        # per-tensor scale visibly degrades them (measured: wrong facts picked from the same context).
        return quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
