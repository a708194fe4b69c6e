"""The checks of a lent CUDA machine that reaches no package registry, in one run.

    python3 -m bench.gpu_run --gguf-parts '.gpu/gguf.*' --prompts .gpu/prompts.json \\
        --train-file .gpu/reader-train.jsonl --out-dir "$OUT"

The default model's GGUF file travels in pieces (a call carries at most 64 MiB): they are joined in
name order and the result must have the catalogue's sha256 (the `--model` entry's) before anything runs
on it. Then, each step
on its own so that one failure leaves the others' figures:

1. the GGUF file converted into a transformers folder (as `switchboard` does on first start);
2. `bench/generate.py` on the prompts the pipeline built for the demo questions (saved with
   `--save-prompts` where the pipeline is installed), in bf16 on the GPU;
3. the reader adapter trained on the GPU (`engine/generation/finetune.py`), once with the shipped recipe
   (its CPU time is in the shipped manifest) and once with the variants named by `--variant`; the
   adapters come back as one tar file to be evaluated where the pipeline is installed.

Prints one JSON line per step and writes them to `OUT/gpu_run.jsonl`.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.generation.finetune import FinetuneOptions, finetune
from engine.generation.models import CATALOG, _convert_gguf

# name -> options; "shipped" repeats engine/data/reader-adapter's recipe (docs/finetune.md)
VARIANTS: dict[str, FinetuneOptions] = {
    "shipped": FinetuneOptions(epochs=1, lr=3e-4, top_layers=8),
    "all-r16-e4": FinetuneOptions(epochs=4, lr=2e-4, rank=16, alpha=32),
}


def join_parts(pattern: str, expected: str, target: Path) -> dict[str, Any]:
    parts = sorted(glob.glob(pattern))
    if not parts:
        raise FileNotFoundError(f"no file matches {pattern}")
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            data = Path(part).read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != expected:
        raise ValueError(f"joined {len(parts)} parts: sha256 {digest.hexdigest()}, expected {expected}")
    return {"parts": len(parts), "bytes": target.stat().st_size, "sha256_ok": True}


def _version(package: str) -> str:
    """The installed version, or "absent" (a generation-only run needs no peft)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def run_generate(prompts: Path, folder: Path, out_dir: Path, streams: int) -> dict[str, Any]:
    """bench/generate.py in a child process (its own peak memory), lines kept in OUT/generate.jsonl."""
    command = [sys.executable, "-m", "bench.generate", "--prompts", str(prompts), "--model", str(folder)]
    try:
        done = subprocess.run(  # noqa: S603 - our own module, arguments we built
            [*command, "--streams", str(streams)], capture_output=True, text=True, timeout=420, check=False
        )
    except subprocess.TimeoutExpired as expired:  # keep the configurations it had printed
        printed = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        (out_dir / "generate.jsonl").write_text(printed, encoding="utf-8")
        raise
    (out_dir / "generate.jsonl").write_text(done.stdout, encoding="utf-8")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        raise RuntimeError(f"bench.generate exited {done.returncode}: {done.stderr[-2000:]}")
    return {"configurations": rows}


def train_variants(folder: Path, train_file: Path, names: list[str], out_dir: Path) -> list[dict[str, Any]]:
    results = []
    adapters = Path(tempfile.mkdtemp(prefix="adapters-"))
    for name in names:
        started = time.monotonic()
        result = finetune(str(folder), train_file, adapters / name, VARIANTS[name])
        results.append(
            {
                "variant": name,
                "seconds": round(time.monotonic() - started, 1),
                "eval_loss_before": result.eval_loss_before,
                "eval_loss_after": result.eval_loss_after,
                "history": result.history,
                "examples": result.examples,
                "device": result.device,
            }
        )
        print(json.dumps({"step": "finetune"} | results[-1]), flush=True)
        with tarfile.open(out_dir / "adapters.tar", "w") as tar:  # rewritten after each: a timeout keeps the rest
            tar.add(adapters, arcname="adapters")
    return results


def step(name: str, record: list[dict[str, Any]], action: Callable[[], Any]) -> Any:
    started = time.monotonic()
    try:
        value = action()
        row = {"step": name, "ok": True, "seconds": round(time.monotonic() - started, 1), "result": value}
    except Exception as error:  # one step's failure is reported; the next steps still run
        value = None
        row = {"step": name, "ok": False, "error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
    record.append(row)
    print(json.dumps(row, default=str)[:4000], flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf-parts", required=True, help="a glob: the parts, joined in name order")
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=sorted(CATALOG))
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: all")
    parser.add_argument("--no-finetune", action="store_true", help="the generation benchmark only")
    args = parser.parse_args()
    spec = CATALOG[args.model]
    work = Path(tempfile.mkdtemp(prefix="gpu-run-"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    record: list[dict[str, Any]] = []
    torch.backends.cuda.matmul.allow_tf32 = True  # training's float32 products on tensor cores (lease time)
    device = {
        "cuda": torch.cuda.is_available(),
        "name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "peft": _version("peft"),
    }
    record.append({"step": "device", "ok": True, "result": device})
    print(json.dumps(record[-1]), flush=True)
    joined = step("join", record, lambda: join_parts(args.gguf_parts, spec.sha256, work / spec.gguf_name))
    folder = work / "model"
    if joined is not None:
        step("convert", record, lambda: _convert_gguf(work, spec.gguf_name, folder))
        step("generate", record, lambda: run_generate(args.prompts, folder, args.out_dir, args.streams))
        names = [] if args.no_finetune else args.variant or list(VARIANTS)
        step("finetune", record, lambda: train_variants(folder, args.train_file, names, args.out_dir))
    (args.out_dir / "gpu_run.jsonl").write_text(
        "".join(json.dumps(r, default=str) + "\n" for r in record), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
