"""What a registry entry is: the types of ``conformance.registry`` and its vocabulary.

An :class:`Entry` says which section of the guide it belongs to (a step of training, or a
family of layers), what MLX does, what PyTorch does, what goes wrong when the code is ported
naively (with the numbers measured, where there are any), the fix, which MLX versions it applies
to, and (through its id and section) the pytest node id of the test that demonstrates both the
failure and the fix: ``tests/pitfalls/test_<section>.py::test_<id with underscores>``.

Measured numbers: each :class:`Measurement` states what was measured and how; its test measures it
again and fails when the result moves by more than ``rel`` (relative), or, for timings, by more
than a factor of ``TIMING_SPREAD``, so a new MLX or PyTorch release that changes a default or a
result is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = {
    "error": "raises: the naive port stops with an exception",
    "silent": "wrong numbers, no error",
    "missing": "the document promises it, or torch has it, and MLX does not",
    "performance": "correct, but slow or misleading to time",
    "style": "works, but is not how MLX code is written",
}
DEVICES = {
    "gpu": "needs MLX's GPU backend (Metal or CUDA)",
    "cuda": "needs MLX's CUDA backend and torch with CUDA",
}
TEST_DIR = "tests/pitfalls"
MEASURED_WITH = {"mlx": "0.32.4", "torch": "2.13.0"}  # the versions the registered numbers come from
TIMING_SPREAD = 20.0  # a re-measured timing must lie within this factor of the registered one


@dataclass(frozen=True)
class Section:
    """A section of the guide: a step of training (``doc_step``: the seed document's step it
    follows, if any) or a family of layers."""

    key: str
    title: str
    part: str  # "step" (a step of training) or "layer" (a family of layers)
    doc_step: int | None = None
    marker: str | None = None  # the pytest marker its tests carry (pyproject.toml's markers)
    intro: str = ""  # for sections without the document's code: what the section covers


SECTIONS: dict[str, Section] = {s.key: s for s in (
    Section("data", "Data: loading, splitting, standardizing, dtypes", "step", 1, "data"),
    Section("model", "The model: modules, parameters and initial weights", "step", 2, "model"),
    Section("loss", "The loss", "step", 3, "loss"),
    Section("optimizer", "The optimizer and the learning rate", "step", 4, "optimizer"),
    Section("training", "The training loop and compilation", "step", 5, "training"),
    Section("validation", "Validation and early stopping", "step", 6, "validation"),
    Section("evaluation", "Evaluation and metrics", "step", 7, "metrics"),
    Section("devices", "The whole flow: devices, precision, memory and names", "step", 8),
    Section("distributed", "Distributed training", "step", intro=(
        "The document trains on one device. Data-parallel training splits each batch over processes and "
        "combines their gradients; MLX's primitives for that are `mx.distributed` and `nn.average_gradients`.")),
    Section("linear", "Linear layers, activations and initialisation", "layer", marker="model", intro=(
        "`nn.Linear` stores its weight as (out, in) in both frameworks, so SimpleNN's weights copy as they are. "
        "What differs is around it: the initialisers and the activations.")),
    Section("conv", "Convolutions", "layer", marker="model", intro=(
        "MLX's convolutions are channels-last: inputs NLC / NHWC, weights (out, kH, kW, in). Every weight "
        "copied from torch, and every tensor that crosses between a convolution and a Linear layer, changes "
        "its layout.")),
    Section("norm", "Normalisation", "layer", marker="model", intro=(
        "MLX's normalisation layers normalise the last axis (channels-last, like its convolutions), and some "
        "of their defaults differ from torch's.")),
    Section("attention", "Embeddings, attention and transformers", "layer", marker="model", intro=(
        "MLX has `nn.Embedding`, `nn.MultiHeadAttention` and the `nn.Transformer*` layers under torch's "
        "names, with other defaults: same name, different architecture.")),
    Section("recurrent", "Recurrent layers", "layer", marker="model", intro=(
        "MLX's `nn.RNN`, `nn.GRU` and `nn.LSTM` are batch-first, one layer, one direction, and return every "
        "step's state; their biases are laid out differently from torch's.")),
    Section("hf", "Hugging Face models: transformers against mlx-lm", "layer", marker="model", intro=(
        "A transformers model and its mlx-lm port (`conformance.pair.hf`, docs/ARCHITECTURES.md) differ in ways "
        "no error shows: activations, config keys, embeddings. Found by `pair.check` on the architecture matrix "
        "(transformers 5.23, mlx-lm 0.32.2); each proof below reproduces the difference in plain torch and MLX, "
        "and `tests/test_hf_findings.py` (the `hf` marker, the `[hf]` extra) proves it on the real models.")),
)}


@dataclass(frozen=True)
class Measurement:
    """A number quoted in an entry: ``key`` names it in ``naive_failure`` (``{key:.3g}``)."""

    key: str
    value: float
    how: str
    rel: float = 0.02
    timing: bool = False

    def agrees(self, observed: float) -> bool:
        """Whether a re-measurement ``observed`` confirms this number."""
        if self.timing:
            return self.value / TIMING_SPREAD <= observed <= self.value * TIMING_SPREAD
        return abs(observed - self.value) <= self.rel * abs(self.value)

    def allowed(self) -> str:
        if self.timing:
            return f"within a factor {TIMING_SPREAD:g} of {self.value:.3g}"
        return f"{self.value:.6g} +/- {100 * self.rel:g}%"


@dataclass(frozen=True)
class Entry:
    id: str
    section: str
    title: str
    mlx: str
    torch: str
    naive_failure: str
    fix: str
    seed_defect: bool
    kind: str
    seed_lines: tuple[str, ...] = ()
    measured: tuple[Measurement, ...] = ()
    device: str | None = None
    reference: tuple[str, ...] = ()
    cost: int | None = None  # rank among the ten most costly pitfalls (1 = the most costly)
    cost_summary: str = ""  # for the ranked ones: one line, with the measured cost (``{key}`` fields)
    # The MLX versions the naive failure happens on: "all", ">=0.21.1", "<0.32.1", ">=0.26.2,<0.40"
    # (checked against the installed MLX by conformance.registry.drift), and what changed when.
    mlx_versions: str = "all"
    history: str = ""

    @property
    def test_file(self) -> str:
        return f"{TEST_DIR}/test_{self.section}.py"

    @property
    def test_function(self) -> str:
        return f"test_{self.id.replace('-', '_')}"

    @property
    def test(self) -> str:
        """The pytest node id of the test that demonstrates this entry."""
        return f"{self.test_file}::{self.test_function}"

    def values(self) -> dict[str, float]:
        return {m.key: m.value for m in self.measured}

    def naive_failure_text(self) -> str:
        """``naive_failure`` with the measured numbers filled in."""
        return self.naive_failure.format(**self.values())

    def summary_text(self) -> str:
        """``cost_summary`` with the measured numbers filled in."""
        return self.cost_summary.format(**self.values())


def entry(id: str, **fields) -> Entry:
    return Entry(id=id, **fields)
