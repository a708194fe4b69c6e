"""Row-wise int8 Linear layers: close to the float layer, each row's numbers independent of the others,
and a real model (SmolLM2) loaded with them still answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import torch
from torch import nn

from engine.generation.int8 import RowwiseInt8Linear, quantize_rowwise, rowwise_supported
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.protocols import ChatMessage, GenerationParams
from tests.conftest import TEST_MODEL, model_cache

pytestmark = pytest.mark.skipif(not rowwise_supported(), reason="this torch build has no CPU int8 matmul")


def layer(bias: bool = True) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(256, 96, bias=bias)


def test_output_is_close_to_the_float_layer() -> None:
    linear = layer()
    x = torch.randn(5, 256)
    exact = linear(x)
    quantized = RowwiseInt8Linear(linear)(x)
    assert quantized.shape == exact.shape
    relative = (quantized - exact).norm() / exact.norm()
    assert relative < 0.02  # 8-bit weights and activations: about 1 % error on random data


def test_a_row_is_the_same_alone_and_in_any_batch() -> None:
    quantized = RowwiseInt8Linear(layer())
    x = torch.randn(8, 256)
    x[3] *= 50  # one row with far larger activations must not change the rounding of the others
    together = quantized(x)
    for row in range(8):
        assert torch.equal(quantized(x[row : row + 1])[0], together[row])


def test_the_integer_product_is_exact_at_the_extremes() -> None:
    """Every int8 value at +-127 over a long row (the MLP's 4864 inputs): no saturation, no float rounding."""
    torch.manual_seed(1)
    signs = torch.randint(0, 2, (3, 4864), dtype=torch.int8) * 2 - 1
    rows = signs * 127
    weight = (torch.randint(0, 2, (64, 4864), dtype=torch.int8) * 2 - 1) * 127
    exact = rows.long() @ weight.long().t()
    assert torch.equal(torch._int_mm(rows, weight.t()).long(), exact)


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


async def collect(pieces: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in pieces])


async def test_a_real_model_loaded_row_wise_answers_and_keeps_batching() -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    question = [ChatMessage("user", "What is the capital of France?")]
    params = GenerationParams(max_new_tokens=12)
    answers = []
    for quantize in ("none", "int8-rowwise"):
        loaded = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu", quantize=quantize))
        try:
            answers.append("".join([piece async for piece in loaded.stream(question, params)]))
            if quantize != "none":
                assert any(isinstance(m, RowwiseInt8Linear) for m in loaded.model.modules())
                # unlike dynamic int8 (one answer at a time, no lookup), row-wise int8 batches and looks up
                assert loaded.prompt_lookup == LoadOptions().prompt_lookup
                assert loaded._batcher.max_batch == LoadOptions().max_batch
                other = [ChatMessage("user", "Which city is the capital of France?")]
                together = await asyncio.gather(
                    *(collect(loaded.stream(q, params)) for q in (question, other, question))
                )
                assert all("Paris" in text for text in together)  # three answers sharing decoding steps
        finally:
            loaded.close()
    assert "Paris" in answers[0]
    assert "Paris" in answers[1]
