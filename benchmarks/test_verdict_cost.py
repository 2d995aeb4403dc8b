"""``benchmarks.verdict_cost --pair`` can be trusted: its parts add up to the check's time, the
recording changes no verdict, and outside a recording the parts record nothing. At tiny size (the
MLP example, 2 steps, one ensemble member): a few seconds on the CPU."""

from __future__ import annotations

import time

from benchmarks import verdict_cost
from conformance.pair import parts


def test_nested_parts_are_exclusive_and_add_up():
    with parts.recording() as totals:
        with parts.part("outer"):
            time.sleep(0.05)
            with parts.part("inner"):
                time.sleep(0.1)
    assert 0.09 <= totals["inner"] < 0.2 and 0.04 <= totals["outer"] < 0.09, totals
    assert abs(sum(v for k, v in totals.items() if k != "total") - totals["total"]) < 1e-3, totals


def test_outside_a_recording_nothing_is_recorded():
    with parts.part("nobody asked"):
        pass
    with parts.recording() as totals:
        pass
    assert "nobody asked" not in totals


def test_the_pair_table_splits_a_conforming_check_into_parts_that_add_up(capsys):
    out = verdict_cost.pair_table("cpu", 1, ["mlp"], steps=2, ensemble=1)
    plain, totals, passed, t_torch, t_mlx = out["mlp"]
    assert passed and plain == t_torch + t_mlx > 0
    named = {k: v for k, v in totals.items() if k != "total"}
    assert set(named) <= set(verdict_cost.PARTS), named
    for p in ("layer capture", "local checks", "float64 anchor", "measured rounding (torch's reruns)",
              "measured rounding (MLX's reruns)", "ensemble (perturbed torch runs)"):
        assert named.get(p, 0.0) > 0, (p, named)
    assert abs(sum(named.values()) - totals["total"]) <= 0.01 * totals["total"], totals
    printed = capsys.readouterr().out
    assert "| mlp |" in printed and "x plain" in printed


def test_the_evaluation_floor_counts_the_methods_passes():
    """Default ensemble (6) and 8 reruns: torch 1 + 8 + 6, MLX 4 + 8; with equal step costs the
    floor is their mean, with MLX free it is torch's count."""
    assert verdict_cost.evaluations(None) == (15, 12) and verdict_cost.evaluations(0) == (9, 12)
    assert verdict_cost.evaluation_floor(1.0, 1.0, None) == 13.5
    assert verdict_cost.evaluation_floor(1.0, 0.0, 2) == 11.0


def test_device_ratios_divide_the_gpus_seconds_by_the_cpus(capsys):
    verdict_cost.device_ratios({"cpu": {"doc": (1.0, 2.0, 4.0)}, "gpu": {"doc": (2.0, 2.0, 2.0)}})
    assert "| doc | 2.00 | 1.00 | 0.50 |" in capsys.readouterr().out
