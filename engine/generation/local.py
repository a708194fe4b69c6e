"""A transformers causal LM (optionally with a LoRA adapter) that streams text deltas.

The forward passes run on one dedicated worker thread, so the event loop never blocks and concurrent
requests queue for the model instead of fighting over its two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from engine.protocols import ChatMessage, GenerationParams, PromptTooLong
from engine.types import TokenStats

log = logging.getLogger(__name__)

_END = object()


@dataclass(frozen=True, slots=True)
class LoadOptions:
    device: str = "auto"  # auto | cpu | cuda
    quantize: str = "none"  # none | int8 (dynamic per-channel, CPU only)
    adapter: str | None = None  # path of a peft LoRA adapter, merged into the weights
    # segments' adapters, (name, path): kept apart and chosen per request by GenerationParams.adapter
    adapters: tuple[tuple[str, str], ...] = ()
    threads: int = 0  # 0: torch's default
    # Prompt-lookup decoding: up to this many tokens copied from the prompt are checked in one forward pass
    # (answers repeat the extract's phrases). Greedy output is unchanged; 0 turns it off.
    prompt_lookup: int = 10


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


class _ChosenLogprobs(LogitsProcessor):
    """Each written token's log-probability under the distribution it was chosen from.

    A distribution is kept by the position it is for (the prefix length it was computed on); the token
    at a position is known once a later prefix, or the final sequence, holds it. With prompt-lookup
    decoding a step scores several candidate positions and may reject some: a rejected position is scored
    again on the accepted prefix, and only the latest distribution for a position counts, so the figures
    are the ones plain decoding would give. At most `window` distributions are held at a time.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._dists: dict[int, torch.Tensor] = {}
        self._values: dict[int, float] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        at = int(input_ids.shape[-1])
        self._record(input_ids[0], below=at)
        self._dists[at] = torch.log_softmax(scores[0].float(), dim=-1)
        for position in [p for p in self._dists if p < at - self.window]:
            del self._dists[position]  # its token is final: a step never reaches back this far
        return scores

    def _record(self, ids: torch.Tensor, below: int) -> None:
        for position, dist in self._dists.items():
            if position < below:
                self._values[position] = float(dist[int(ids[position])])

    def finish(self, sequences: torch.Tensor, prompt_length: int) -> list[float]:
        self._record(sequences[0], below=int(sequences.shape[-1]))
        self._dists.clear()
        kept = [self._values[p] for p in sorted(self._values) if prompt_length <= p < sequences.shape[-1]]
        return [value for value in kept if value > float("-inf")]


class _StopWhenSet(StoppingCriteria):
    def __init__(self, flag: threading.Event) -> None:
        self._flag = flag

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self._flag.is_set(), dtype=torch.bool, device=input_ids.device)


class LocalGenerator:
    def __init__(self, model: Any, tokenizer: Any, label: str, device: str, prompt_lookup: int = 0) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.label = label
        self.device = device
        self.prompt_lookup = prompt_lookup
        # every id that ends an answer: models like Qwen and Llama 3 stop on several
        stops = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        self._stop_ids = {*(stops if isinstance(stops, list) else [stops]), tokenizer.eos_token_id} - {None}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generator")
        self._closed = False

    @property
    def name(self) -> str:
        return self.label

    @property
    def ready(self) -> bool:
        return not self._closed

    @classmethod
    def load(cls, source: str, label: str, options: LoadOptions) -> LocalGenerator:
        device = pick_device(options.device)
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        tokenizer = AutoTokenizer.from_pretrained(source)
        model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        if options.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, options.adapter).merge_and_unload()
        if options.adapters:
            if options.quantize == "int8":
                raise ValueError("segments with adapters need float weights (SWITCHBOARD_QUANTIZE=none)")
            from peft import PeftModel

            (first, path), *more = options.adapters
            model = PeftModel.from_pretrained(model, path, adapter_name=first)
            for name, path in more:
                model.load_adapter(path, adapter_name=name)
        model.eval()
        if device == "cpu" and options.quantize == "int8":
            model = quantize_int8(model)
        model.to(device)
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = tokenizer.eos_token_id
        # Dynamic int8 scales activations per forward pass: scoring several positions at once changes the
        # numbers, and greedy answers with them. Prompt lookup is kept for float weights only.
        lookup = 0 if options.quantize == "int8" and device == "cpu" else options.prompt_lookup
        return cls(model, tokenizer, label, device, lookup)

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

    def _generate_blocking(
        self,
        messages: Sequence[ChatMessage],
        budget: int,
        kwargs: dict[str, Any],
        stop: threading.Event,
        tools: Sequence[Mapping[str, Any]] | None = None,
        adapter: str | None = None,
    ) -> TokenStats | None:
        if stop.is_set():  # the request left while it waited for this thread: it never reaches the model
            kwargs["streamer"].end()
            return None
        inputs = self.prompt_ids(messages, budget, tools)
        chosen = _ChosenLogprobs(window=self.prompt_lookup + 2)
        processors = LogitsProcessorList([*kwargs.pop("logits_processor", []), chosen])
        with torch.inference_mode(), self._adapter(adapter):
            sequences = self.model.generate(**inputs, **kwargs, logits_processor=processors)
        values = chosen.finish(sequences, int(inputs["input_ids"].shape[-1]))
        if values and int(sequences[0, -1]) in self._stop_ids:
            values = values[:-1]  # the end-of-answer token is not part of the answer
        return TokenStats.of(values)

    def _adapter(self, name: str | None) -> contextlib.AbstractContextManager[Any]:
        """The segment's adapter for this request, or the base model (adapters switched off). Requests run
        one at a time on the generation thread, so switching here never affects another."""
        adapters = getattr(self.model, "peft_config", None)
        if name is None:
            return self.model.disable_adapter() if adapters else contextlib.nullcontext()
        if not adapters or name not in adapters:
            raise ValueError(f"no adapter named {name!r} is loaded")
        self.model.set_adapter(name)
        return contextlib.nullcontext()

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
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()
        kwargs = self.generate_kwargs(params) | {
            "streamer": _DeltaStreamer(self.tokenizer, loop, queue),
            "stopping_criteria": StoppingCriteriaList([_StopWhenSet(stop)]),
        }
        work = self._executor.submit(
            self._generate_blocking, messages, params.max_prompt_tokens, kwargs, stop, tools, params.adapter
        )
        future = asyncio.wrap_future(work, loop=loop)
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
            stop.set()  # the consumer left early (or we are done): end generation at the next token
            work.cancel()  # still queued behind another request: it never starts
            if not future.done():
                await asyncio.gather(future, return_exceptions=True)

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)


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
