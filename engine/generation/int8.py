"""Int8 Linear layers with one activation scale per token (`SWITCHBOARD_QUANTIZE=int8-rowwise`).

torch's dynamic quantization picks one activation scale for a layer's whole input (all of a prompt's
tokens, rounded to 7 bits): one token with large activations coarsens the rounding of every other. Here
each row (one token) gets its own scale (8-bit values) and the product is taken in integers, which is exact: a
layer's output for a row does not depend on the other rows, so these weights keep batching and prompt
lookup. (What can still differ is the float attention around them, in its last bits, between a padded batch
and a single answer, and the rounding here can amplify that: bench/generate.py counts the demo answers it
changes; see serving_limits.)

Fast only where oneDNN's int8 product runs (x86 with AVX-512 VNNI); elsewhere torch falls back to a scalar
loop far slower than fp32, so `rowwise_supported` refuses those CPUs.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

_LEVELS = 127.0  # symmetric int8: -127..127


class RowwiseInt8Linear(nn.Module):
    """y = x W^T + b with W in int8 (one scale per output channel), x quantized per row at run time."""

    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / _LEVELS
        quantized = torch.round(weight / scale[:, None]).clamp(-_LEVELS, _LEVELS).to(torch.int8)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        # kept (out, in) and multiplied as its transposed view: oneDNN's int8 product was 3-10x faster here for
        # one row (decode) with this layout than with a contiguous (in, out) copy, and no slower for a prompt
        self.register_buffer("weight", quantized.contiguous())
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(_LEVELS)
        quantized = torch.round(rows / scale).to(torch.int8)
        # int8 x int8 -> int32 is exact: no row's result depends on what else is in the batch
        product = torch._int_mm(quantized, self.weight.t()).float().mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            product.add_(self.bias)
        return product.reshape(*shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def rowwise_supported() -> bool:
    """Whether this machine runs torch._int_mm fast: oneDNN on, and a CPU with AVX-512 VNNI (torch's own
    condition for using oneDNN; otherwise it runs a scalar loop), and a product on the layout `forward` uses
    that neither fails nor warns (torch turns a oneDNN failure into a warning)."""
    try:
        onednn = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
        if not (onednn and torch.backends.mkldnn.enabled):
            return False
        if not torch.cpu._is_vnni_supported():
            return False
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            a = torch.ones(2, 8, dtype=torch.int8)
            right = bool(torch._int_mm(a, torch.ones(4, 8, dtype=torch.int8).t()).sum().item() == 64)
        return right and not warned
    except (RuntimeError, AttributeError):
        return False


def quantize_rowwise(model: Any) -> Any:
    """Replace every nn.Linear with its row-wise int8 version, in place. Float weights only: an adapter is
    merged first (a model with adapters kept apart is refused, since peft's layers would get int8 weights)."""
    if getattr(model, "peft_config", None):
        raise ValueError("int8-rowwise: merge the adapter first; adapters kept apart need float weights")
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, RowwiseInt8Linear(child))
    return model
