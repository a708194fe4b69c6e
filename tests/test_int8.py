"""Row-wise int8 Linear layers: close to the float layer, each row's numbers independent of the others,
and a real model (SmolLM2) loaded with them still answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import torch
from torch import nn

from bot.runtime import load_generator
from bot.settings import FileConfig, Settings, SettingsError
from engine.generation.int8 import RowwiseInt8Linear, quantize_rowwise, rowwise_supported
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.protocols import ChatMessage, GenerationParams
from tests.conftest import TEST_MODEL, model_cache

# the layers' products need oneDNN's int8 kernels (x86 with AVX-512 VNNI); the refusals run anywhere
needs_int8_product = pytest.mark.skipif(not rowwise_supported(), reason="this CPU has no fast int8 product (VNNI)")


def layer(bias: bool = True) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(256, 96, bias=bias)


@needs_int8_product
def test_output_is_close_to_the_float_layer() -> None:
    linear = layer()
    x = torch.randn(5, 256)
    exact = linear(x)
    quantized = RowwiseInt8Linear(linear)(x)
    assert quantized.shape == exact.shape
    relative = (quantized - exact).norm() / exact.norm()
    assert relative < 0.02  # 8-bit weights and activations: about 1 % error on random data


@needs_int8_product
def test_a_row_is_the_same_alone_and_in_any_batch() -> None:
    quantized = RowwiseInt8Linear(layer())
    x = torch.randn(8, 256)
    x[3] *= 50  # one row with far larger activations must not change the rounding of the others
    together = quantized(x)
    for row in range(8):
        assert torch.equal(quantized(x[row : row + 1])[0], together[row])


@needs_int8_product
def test_the_layer_computes_exactly_what_its_buffers_say() -> None:
    """The int8 weights and scales it holds, times each row rounded to its own scale, plus the bias: checked
    against the same arithmetic in float64 (the integer product is exact, so only float32 rounding is left)."""
    linear = layer()
    quantized = RowwiseInt8Linear(linear)
    x = torch.randn(4, 256)
    x[1] *= 1000
    row_scale = x.abs().amax(dim=1, keepdim=True) / 127
    rows = torch.round(x / row_scale).double() * row_scale.double()
    weight = quantized.weight.double() * quantized.weight_scale.double()[:, None]
    assert quantized.bias is not None
    expected = rows @ weight.t() + quantized.bias.double()
    assert torch.allclose(quantized(x).double(), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    assert quantized.weight.dtype == torch.int8
    assert int(quantized.weight.abs().max()) == 127  # each output channel's largest weight uses the full range


@needs_int8_product
def test_shapes_and_missing_bias_are_kept() -> None:
    quantized = RowwiseInt8Linear(layer(bias=False))
    x = torch.randn(2, 3, 256)
    assert quantized(x).shape == (2, 3, 96)
    assert quantized.bias is None
    assert "bias=False" in repr(quantized)


def test_a_model_with_adapters_kept_apart_is_refused() -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(nn.Sequential(nn.Linear(16, 16)), LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(ValueError, match="merge the adapter first"):
        quantize_rowwise(model)


async def test_a_cpu_without_the_int8_product_is_told_at_start_up(
    settings: Settings, file_config: FileConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.generation.local.rowwise_supported", lambda: False)
    rowwise = settings.model_copy(update={"quantize": "int8-rowwise", "device": "cpu"})
    with pytest.raises(SettingsError, match=r"SWITCHBOARD_QUANTIZE: int8-rowwise needs oneDNN's int8 product"):
        await load_generator(rowwise, file_config, lambda _: None)


def test_an_unknown_setting_is_refused_before_loading() -> None:
    with pytest.raises(ValueError, match="unknown 'int4'"):
        LocalGenerator.load("no-such-model", "x", LoadOptions(device="cpu", quantize="int4"))


def test_every_linear_of_a_model_is_replaced() -> None:
    inner = nn.Sequential(nn.Linear(32, 8))
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), inner)
    quantize_rowwise(model)
    assert isinstance(model[0], RowwiseInt8Linear)
    assert isinstance(inner[0], RowwiseInt8Linear)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())


QUESTION = [ChatMessage("user", "What is the capital of France?")]
PARAMS = GenerationParams(max_new_tokens=12)


async def collect(pieces: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in pieces])


@needs_int8_product
async def test_a_real_model_loaded_row_wise_answers_like_float() -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    answers = []
    for quantize in ("none", "int8-rowwise"):
        loaded = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu", quantize=quantize))
        try:
            answers.append(await collect(loaded.stream(QUESTION, PARAMS)))
        finally:
            loaded.close()
    assert "Paris" in answers[0]
    assert "Paris" in answers[1]


@needs_int8_product
async def test_row_wise_weights_keep_batching_and_prompt_lookup() -> None:
    """Unlike dynamic int8 (one answer at a time, no lookup): concurrent answers share decoding steps."""
    resolved = resolve(TEST_MODEL, model_cache())
    loaded = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu", quantize="int8-rowwise"))
    passes: list[int] = []
    hook = loaded.model.register_forward_hook(lambda *_: passes.append(1))
    try:
        assert any(isinstance(m, RowwiseInt8Linear) for m in loaded.model.modules())
        assert loaded.prompt_lookup == LoadOptions().prompt_lookup
        assert loaded._batcher.max_batch == LoadOptions().max_batch
        other = [ChatMessage("user", "Which city is the capital of France?")]
        together = await asyncio.gather(*(collect(loaded.stream(q, PARAMS)) for q in (QUESTION, other, QUESTION)))
    finally:
        hook.remove()
        loaded.close()
    assert all("Paris" in text for text in together)
    # three prefills plus shared steps: far fewer passes than one per token of each answer
    tokens = sum(len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in together)
    assert len(passes) < 3 + tokens * 2 / 3
