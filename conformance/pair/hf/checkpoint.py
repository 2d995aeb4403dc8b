"""The checkpoint path: a tiny random transformers checkpoint, saved with ``save_pretrained``
(safetensors), loaded by mlx-lm's own loader (``mlx_lm.utils.load_model``: its config reading,
``ModelArgs.from_dict``, ``sanitize`` and ``load_weights(strict=True)``) and by transformers
(``from_pretrained`` of the same local folder, nothing downloaded); the pair then goes to ``pair.check``.
"""

from __future__ import annotations

from pathlib import Path


def save(arch: str, folder: Path, seed: int = 0, **overrides) -> Path:
    from . import zoo

    model = zoo.torch_model(zoo.hf_config(arch, **overrides), seed)
    model.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def load(folder: Path):
    """``(mlx_model, torch_model)`` from one checkpoint folder, each through its library's own loader."""
    import torch
    from mlx_lm.utils import load_model
    from transformers import AutoModelForCausalLM

    mlx_model, _ = load_model(Path(folder), strict=True)
    extra = {"experts_implementation": "eager"} if "experts" in (Path(folder) / "config.json").read_text() else {}
    torch_model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32,
                                                       local_files_only=True, **extra)  # grouped_mm: no float64
    return mlx_model, torch_model
