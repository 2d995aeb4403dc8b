"""A figure of both frameworks' loss curves (train and validation) and their difference, in the
format its file name's extension names (any format matplotlib writes: .png, .pdf, .svg, ...)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .outputs import Staged, stage, write_atomic


def plot_formats() -> dict[str, str]:
    """The formats matplotlib writes, by extension (without the dot): {"png": "Portable Network Graphics", ...}."""
    from matplotlib.backend_bases import FigureCanvasBase

    return dict(FigureCanvasBase.get_supported_filetypes())


def plot_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its extension; ``ValueError`` (one line) when matplotlib has none."""
    ext = Path(path).suffix.lower().lstrip(".")
    formats = plot_formats()
    if ext not in formats:
        said = f"extension .{ext} is not a format matplotlib writes" if ext else "has no extension to name its format"
        raise ValueError(f"{said}; end the name with one of {', '.join('.' + f for f in sorted(formats))}")
    return ext


def check_plot(path: str | os.PathLike) -> str:
    """``plot_format``, and proof that matplotlib writes that format here (a tiny figure rendered
    to memory: a format whose writer is missing, such as Pillow's, fails now instead of after the
    run); ``ValueError`` with one line otherwise."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fmt = plot_format(path)
    fig = plt.figure(figsize=(1, 1), dpi=10)
    try:
        fig.savefig(io.BytesIO(), format=fmt)
    except Exception as e:  # noqa: BLE001  (whatever the writer raises, said in one line)
        raise ValueError(f"matplotlib cannot write .{fmt} here ({type(e).__name__}: {e}); use .png, .pdf or .svg") from None
    finally:
        plt.close(fig)
    return fmt


def figure(histories: dict[str, dict], title: str = "", envelope: dict | None = None):
    """Loss per epoch for each framework on the left axis; |mlx - torch| on a log right axis. With
    ``envelope`` (``Outcome.verdict()["envelope"]`` plus ``steps_per_epoch`` and ``chaos_step``):
    the training loss's deviation at every step and what the free-running verdict allows there, and
    where the run turns sensitive to rounding."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    styles = {"mlx": "-", "torch": "--"}
    colors = {"train_loss": "tab:blue", "val_loss": "tab:orange"}
    for name, h in histories.items():
        for key in ("train_loss", "val_loss"):
            ax.plot(h["epoch"][: len(h[key])], h[key], styles.get(name, ":"), color=colors[key], label=f"{name} {key.replace('_', ' ')}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    ax2 = ax.twinx()
    if {"mlx", "torch"} <= set(histories):
        a, b = histories["mlx"], histories["torch"]
        for key in ("train_loss", "val_loss"):
            k = min(len(a[key]), len(b[key]))
            with np.errstate(invalid="ignore", over="ignore"):  # a NaN or infinite loss leaves a gap
                diff = np.abs(np.asarray(a[key][:k], dtype=float) - np.asarray(b[key][:k], dtype=float))
            ax2.semilogy(a["epoch"][:k], np.maximum(diff, 1e-12), ":", color=colors[key], alpha=0.6, label=f"|mlx - torch| {key.replace('_', ' ')}")
    if envelope and envelope.get("step"):
        per = max(envelope.get("steps_per_epoch", 1), 1)
        at = np.asarray(envelope["step"], dtype=float) / per
        ax2.semilogy(at, np.maximum(np.asarray(envelope["deviation"], dtype=float), 1e-12), "-", color="tab:green",
                     lw=0.8, alpha=0.8, label="|mlx - torch| training loss, per step")
        ax2.semilogy(at, np.maximum(np.asarray(envelope["allowance"], dtype=float), 1e-12), "-", color="gray", lw=1.2,
                     label="allowed: 10 x perturbed torch runs' spread + rounding")
        if envelope.get("chaos_step"):
            ax2.axvline(envelope["chaos_step"] / per, color="tab:red", lw=0.8, ls="--",
                        label=f"sensitive to rounding from step {envelope['chaos_step']}")
    ax2.set_ylabel("|mlx - torch| (log; 1e-12 = identical)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper right")
    ax.set_title(title or "MLX vs PyTorch: loss per epoch")
    fig.tight_layout()
    return fig


def stage_plot(histories: dict[str, dict], path: str | os.PathLike, title: str = "",
               envelope: dict | None = None) -> Staged:
    """The figure written beside ``path`` in its extension's format, for ``outputs.commit``."""
    import matplotlib.pyplot as plt

    fmt = plot_format(path)
    fig = figure(histories, title, envelope)
    try:
        return stage(path, lambda f: fig.savefig(f, format=fmt))
    finally:
        plt.close(fig)


def plot_histories(histories: dict[str, dict], path: str | os.PathLike, title: str = "") -> None:
    """Write the figure to ``path``, whole or not at all, in its extension's format."""
    import matplotlib.pyplot as plt

    fmt = plot_format(path)
    fig = figure(histories, title)
    try:
        write_atomic(path, lambda f: fig.savefig(f, format=fmt))
    finally:
        plt.close(fig)
