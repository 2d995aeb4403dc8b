"""A PNG of both frameworks' loss curves (train and validation) and their difference."""

from __future__ import annotations

import numpy as np

from .report import write_atomic


def plot_histories(histories: dict[str, dict], path: str, title: str = "") -> None:
    """Loss per epoch for each framework on the left axis; |mlx - torch| on a log right axis."""
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
            diff = np.abs(np.asarray(a[key][:k]) - np.asarray(b[key][:k]))
            ax2.semilogy(a["epoch"][:k], np.maximum(diff, 1e-12), ":", color=colors[key], alpha=0.6, label=f"|mlx - torch| {key.replace('_', ' ')}")
    ax2.set_ylabel("|mlx - torch| (log; 1e-12 = identical)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper right")
    ax.set_title(title or "MLX vs PyTorch: loss per epoch")
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
