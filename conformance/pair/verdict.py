"""``PairReport``: what ``pair.check`` found, and how it reads.

The report's sections are numbered as its check paths are: ``0 transfer`` (torch's weights into MLX
and back, bit for bit), ``2 layers`` (every compared layer's output on the first batch, and at a
failing step), ``5 local`` (each training step restarted from torch's state; ``5 anchor`` judges
torch itself), ``8 free-running`` (MLX's own run against perturbed torch runs). The first failure
is the earliest in that order: the transfer, the layers at the start, then by training step (the
layers at a step before that step's other checks), then the free run, whose checks have no step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ensemble import FreeRun, NonFinite, chaos_step, judge_distance, judge_series
from ..ledger import Ledger
from .mapping import Mapping

SECTIONS = {
    "0": "transfer: torch's initial weights into MLX and back, bit for bit",
    "2": "layers: each compared layer's output on the same input (the first batch; a failing step's state)",
    "5": "local: each training step, MLX restarted from torch's state (anchor: torch against float64 and the formula)",
    "8": "free running: MLX's own run against torch's and perturbed torch runs",
}


def _section(path: str) -> int:
    head = path.split(" ", 1)[0]
    return int(head) if head.isdigit() else 99


def failure_order(check) -> tuple:
    """Where a failed check stands in the run: transfer, layers at the start, each step, the free run."""
    section = _section(check.path)
    if section == 0:
        return (0, 0, 0)
    if check.step is None:
        return (1, 0, 0) if section == 2 else (3, 0, section)
    return (2, check.step, 0 if section == 2 else section)


@dataclass
class PairReport:
    """What ``check`` found: every check (tallied per quantity), the first wrong layer, the free run."""

    ledger: Ledger
    mapping: Mapping | None
    modes: dict[str, str]
    steps: int
    first_layer: str | None = None  # the first layer that disagreed at the start
    failing_layer: tuple[int, str | None] | None = None  # (step, first layer that disagreed there)
    free: FreeRun = field(default_factory=FreeRun)
    non_finite: list[NonFinite] = field(default_factory=list)
    problem: str | None = None  # why no lockstep was possible (the mapping, a flag, randomness)
    losses: dict[str, list[float]] = field(default_factory=dict)
    optimizer: str = "Adam"
    notes: list[str] = field(default_factory=list)  # how the run was set up (data-parallel: the shards, the averaging)

    @property
    def checks(self):
        return sorted(self.ledger.checks(), key=lambda c: _section(c.path))

    @property
    def passed(self) -> bool:
        return self.problem is None and not self.non_finite and self.ledger.passed

    @property
    def status(self) -> str:
        if self.problem:
            return "not-comparable"
        return "non-finite" if self.non_finite else "conforms" if self.passed else "does-not-conform"

    @property
    def exit_status(self) -> int:
        return {"conforms": 0, "does-not-conform": 1, "not-comparable": 2, "non-finite": 3}[self.status]

    def first_failure(self):
        failed = [c for c in self.checks if not c.passed]
        return min(failed, key=failure_order) if failed else None

    def summary(self) -> str:
        """One paragraph: the verdict, and where it starts to differ."""
        if self.problem:
            return f"NOT COMPARABLE: {self.problem}"
        if self.non_finite:
            return "NON-FINITE: " + "; ".join(str(e) for e in self.non_finite)
        if self.passed:
            return (f"CONFORMS: {len(self.checks)} quantities within their budgets over {self.steps} steps of "
                    f"{self.optimizer}" + ("" if self.free.judged else " (free running not judged)") + ".")
        first = self.first_failure()
        text = f"DOES NOT CONFORM: first {first.path}" + ("" if first.step is None else f" (step {first.step})")
        if self.first_layer:
            text += f"; at the start, the first layer that disagrees is {self.first_layer!r}"
        elif self.failing_layer:
            step, layer = self.failing_layer
            text += (f"; at step {step}'s state the first layer that disagrees is {layer!r}" if layer else
                     f"; at step {step}'s state every layer's output agrees: the difference is in the backward "
                     f"pass, the loss or the update ({self.optimizer})")
        return text + "."

    def assert_conforms(self) -> None:
        """Raise ``AssertionError`` with the summary and the first failure's full message."""
        if not self.passed:
            first = None if self.problem or self.non_finite else self.first_failure()
            raise AssertionError(self.summary() + ("" if first is None else "\n" + first.message()))

    def to_json(self) -> dict:
        from ..report import checks_payload

        return {"status": self.status, "exit_status": self.exit_status, "summary": self.summary(),
                "modes": self.modes, "steps": self.steps, "optimizer": self.optimizer, "first_layer": self.first_layer,
                "failing_layer": self.failing_layer, "chaos_step": self.free.chaos_step,
                "problem": self.problem, "non_finite": [str(e) for e in self.non_finite],
                "mapping": [dict(torch=p.torch_path, mlx=p.mlx_path, rule=p.rule.name if p.rule else "parameterless")
                            for p in (self.mapping.compared if self.mapping else [])],
                "notes": self.notes, "losses": self.losses, "checks": checks_payload(self.checks)}


def judge_free_run(report: PairReport, mine: list, members: list, loss_floor, final_mine: dict, final_ref: dict,
                   member_finals: list) -> None:
    """MLX's free run against torch's (``report.losses["torch"]``) and the perturbed torch runs: the
    training loss per step, and every final tensor's L2 distance from torch's."""
    names = ("mlx", "torch")
    spread, _, floor = judge_series(report.ledger, "8 free-running / training loss per step", "loss", mine,
                                    report.losses["torch"], members, loss_floor, 2, names)
    for name in sorted(final_ref):
        judge_distance(report.ledger, f"8 free-running / final weights / {name}: L2 distance from torch",
                       final_mine[name], final_ref[name], [m[name] for m in member_finals], names)
    report.free = FreeRun(members=[], spread=spread, judged=True, chaos_step=chaos_step(spread, floor))
