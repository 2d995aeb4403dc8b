"""``python -m conformance --ranks N``: the document's pipeline data-parallel, MLX's group judged
against torch's, rank by rank (``verdict``) and as a whole (``conformance.ensemble``).

Torch's group runs first under ``torchrun`` (its run recorded step by step, then its perturbed
runs: the learning rate x (1 +- rho) and the initial weights moved at rounding level, as the
single-process ensemble); then MLX's group under ``mlx.launch`` trains freely and replays every
torch rank's steps. One framework's group at a time: on two cores, two ranks each.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from ..ensemble import FreeRun, Run, judge, member_specs
from ..ledger import Ledger
from ..local import LocalChecker, Shadow
from ..runner import Outcome, RunConfig, prepare, split_notes
from ..sides import SIDES, side
from ..tolerances import FREE_RUNNING
from . import launch, sharding
from .verdict import judge_own_loop, judge_steps


@dataclass
class GroupConfig:
    """The data-parallel part of a run: how many ranks, on which backends, sharded how."""

    ranks: int = 2
    backend: str | None = None  # None: ring for MLX and gloo for torch (the CPU); "nccl" for both on GPUs
    rule: str = "sampler"
    shuffle: bool = True
    timeout: float = 600.0
    mlx_env: dict | None = None  # extra environment for MLX's processes (the tests seed bugs through it)
    work_dir: str | None = None  # where the job directory is made (None: the system's temporary folder)

    def backends(self) -> dict[str, str]:
        if self.backend in (None, "ring", "gloo"):
            return {"mlx": "ring", "torch": "gloo"}
        return {"mlx": self.backend, "torch": self.backend}


def check(config: RunConfig, group: GroupConfig, n_train: int) -> dict:
    """Refuse (``ValueError``, one line in flags) what the data-parallel run does not do; the plan."""
    for flag, value in (("--patience", config.patience), ("--plateau", config.plateau),
                        ("--restore-best", config.restore_best or None), ("--min-delta", config.min_delta or None)):
        if value is not None:
            raise sharding.ShardError(f"{flag} is not supported with --ranks (the data-parallel run trains every "
                                      "epoch and evaluates the final weights); leave it out")
    if config.device != "cpu" and group.backend != "nccl":
        raise sharding.ShardError("--device gpu with --ranks needs --backend nccl")
    return sharding.plan(n_train, group.ranks, config.batch_size, group.rule)


def run_groups(splits: dict, weights: dict, config: RunConfig, group: GroupConfig, members: list) -> dict:
    """Both groups, one after the other; returns each side's per-rank records."""
    job_dir = tempfile.mkdtemp(prefix="conformance-dp-", dir=group.work_dir)
    try:
        job = {"splits": splits, "weights": weights, "replay_from": "torch", "members": {"torch": members},
               "config": dict(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
                              seed=config.seed, rule=group.rule, shuffle=group.shuffle, compiled=config.compiled,
                              device=config.device, hidden=config.hidden, ranks=group.ranks,
                              backend=group.backends())}
        with open(f"{job_dir}/job.pkl", "wb") as f:
            pickle.dump(job, f)
        out = {}
        for name in ("torch", "mlx"):
            launch.run_group(name, group.ranks, group.backends()[name], job_dir, group.timeout,
                             env=group.mlx_env if name == "mlx" else None)
            out[name] = []
            for r in range(group.ranks):
                with open(f"{job_dir}/{name}.rank{r}.pkl", "rb") as f:
                    out[name].append(pickle.load(f))
    except launch.LaunchError:
        raise  # the job directory stays: the error line names the traceback or log in it
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    shutil.rmtree(job_dir, ignore_errors=True)
    return out


def _group_losses(ranks: list[dict], label: str) -> np.ndarray:
    """The group's loss per step: the mean over ranks of each rank's loss on its rows."""
    return np.mean([np.asarray(r["runs"][label]["losses"]) for r in ranks], axis=0)


def run_data_parallel(dataset, config: RunConfig, group: GroupConfig, reproduce: str | None = None) -> Outcome:
    splits, weights = prepare(dataset, config)
    n_train = len(splits["train"][1])
    plan = check(config, group, n_train)
    modes = {n: side(n).device.precision_mode(config.device) for n in SIDES}
    judged = "tf32" if "tf32" in modes.values() else "ieee"
    count = FREE_RUNNING.members if config.ensemble is None else config.ensemble
    members = [(label, w, lr) for label, w, lr in member_specs(weights, config.learning_rate, judged, count)]
    records = run_groups(splits, weights, config, group, members)
    ledger = Ledger(("mlx", "torch"), judged, config.device, reproduce)
    t_ranks = [r["runs"]["main"] for r in records["torch"]]
    m_ranks = [r["runs"]["main"] for r in records["mlx"]]
    t0, m0 = t_ranks[0]["result"], m_ranks[0]["result"]
    X = t0["standardized"]["train"]
    y = splits["train"][1].astype(np.float32)
    shadow = Shadow("mlx", X.shape[1], config.hidden, config.learning_rate, config.compiled, config.device)
    checker = LocalChecker(shadow, X, y, ledger, modes, config.device)
    floors = judge_steps(ledger, checker, shadow, t_ranks, [r["replay"] for r in records["mlx"]], X, y,
                         config.local_every)
    judge_own_loop(ledger, checker, m_ranks, t_ranks)
    per_epoch = plan["steps_per_epoch"]
    val_floor = []
    y_va, y_te = splits["val"][1], splits["test"][1]
    if len(y_va):
        for e, loss in enumerate(t0["history"]["val_loss"], start=1):
            w_end = t_ranks[0]["steps"][e * per_epoch - 1]["after"][0]
            val_floor.append(checker.check_validation(e * per_epoch, w_end, t0["standardized"]["val"], y_va, loss))
    if len(y_te):
        checker.check_evaluation(t0["final_weights"], t0["standardized"]["test"], y_te, t0["test_logits"],
                                 t0["test_loss"])
    sizes = {k: len(v[1]) for k, v in splits.items()}
    notes = split_notes(dataset, config, sizes) + [
        f"data-parallel: {group.ranks} ranks a framework (mlx {group.backends()['mlx']} under mlx.launch, torch "
        f"{group.backends()['torch']} under torchrun), shards by --shard {group.rule} of {plan['sizes']} rows"
        + (f" ({plan['padded']} row(s) repeated, as DistributedSampler pads)" if plan["padded"] else "")
        + f", {per_epoch} step(s) an epoch, the order shuffled per epoch from (seed, epoch)",
        "averaging in force: " + sharding.AVERAGING + ("; the shards here are uneven, so it differs from the full "
                                                       "batch's mean" if plan["uneven"] else "; the shards here are even")]
    results = {"torch": _pipeline_result(t0), "mlx": _pipeline_result(m0)}
    losses = {"torch": _group_losses(records["torch"], "main"), "mlx": _group_losses(records["mlx"], "main")}
    outcome = Outcome(config, dataset, sizes, results, ledger, modes, losses=losses, notes=notes)
    if count:
        runs = [Run(label, records["torch"][0]["runs"][label]["result"], _group_losses(records["torch"], label))
                for label, _, _ in members]
        for run in runs:
            run.result = _pipeline_result(run.result)
        outcome.free = judge(ledger, Run("torch", results["torch"], losses["torch"]),
                             Run("mlx", results["mlx"], losses["mlx"]), runs, per_epoch, np.asarray(floors),
                             np.asarray(val_floor), ("mlx", "torch"))
    else:
        outcome.free = FreeRun()
    outcome.plan = plan
    return outcome


def _pipeline_result(result: dict) -> dict:
    h = result["history"]
    val = [v for v in h["val_loss"] if np.isfinite(v)]
    h.setdefault("best_val_loss", min(val) if val else float("nan"))
    return result
