"""``pair.check(..., ranks=W)``: the model pair checked data-parallel, rank by rank.

Each batch is cut into W shards by ``conformance.distributed.sharding``'s rule (``shard=``:
DistributedSampler's interleave and padding, or contiguous blocks) and every rank trains on its
shard: torch's group under ``torchrun`` (gloo, ``DistributedDataParallel``), then MLX's under
``mlx.launch`` (ring; the port's ``train_step`` or value_and_grad, ``nn.average_gradients``,
``optimizer.update``), each process a ``conformance.pair.rank``. The processes get the models, the
loss, the optimizer and the functions by pickle: what cannot be pickled, or lives in ``__main__``,
is refused before anything starts.

The verdict is the document's data-parallel verdict (``conformance.distributed.verdict``) on the
pair's checker (its measured rounding, ``conformance.pair.rounding``): at every step each MLX rank
restarts from torch rank r's state and is judged on its loss and local gradient, the averaging of
torch's own gradients, the averaged gradient its step applied (read where it enters
``optimizer.update``: ``all_sum`` without the division fails there, however Adam hides it in the
weights), its training step, and every rank holding identical state; then MLX's group trains
freely against torch's group and perturbed torch groups (``verdict.judge_free_run``).
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import sys
import tempfile

import numpy as np

from ..distributed import launch, sharding
from ..distributed.verdict import judge_identical_ranks, judge_steps
from ..ensemble import NonFinite, member_specs
from .errors import PairError, RankError
from .verdict import PairReport, judge_free_run

RANK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rank.py")
BACKENDS = {"mlx": "ring", "torch": "gloo"}
TIMEOUT = 600.0


def plan(batches: list, ranks: int, shard: str) -> dict:
    """The shards of every batch (``PairError``, one line, where a batch cannot be shared)."""
    sizes = sorted({len(y) for _, y in batches})
    if sizes[0] < ranks:  # the one setting sharding.plan refuses that validate.ranks lets through
        raise PairError(f"ranks={ranks}: a batch has {sizes[0]} row(s), fewer than the ranks; give fewer ranks or "
                        "larger batches")
    shares = {n: sharding.plan(n, ranks, None, shard) for n in sizes}
    uneven = any(p["uneven"] for p in shares.values())
    padded = sum(p["padded"] for p in shares.values())
    return {"sizes": {n: p["sizes"] for n, p in shares.items()}, "uneven": uneven, "padded": padded}


class _Pickler(pickle.Pickler):
    """Pickles MLX's own functions by name (``nn.MaxPool2d`` holds ``mx.max``, a nanobind function
    that pickle cannot copy): each rank finds the same function in its ``mlx.core``."""

    def reducer_override(self, obj):
        if type(obj).__name__ == "nb_func":
            import mlx.core as mx

            name = getattr(obj, "__name__", None)
            if getattr(obj, "__module__", None) == "mlx.core" and getattr(mx, name, None) is obj:
                return mlx_function, (name,)
        return NotImplemented


def mlx_function(name: str):
    """``mlx.core``'s function ``name`` (how ``_Pickler`` sends one)."""
    import mlx.core as mx

    return getattr(mx, name)


def job_bytes(job: dict) -> bytes:
    """``job`` pickled for the ranks (``PairError`` for what the ranks could not load). ``check``
    pickles the user's objects (models, loss, functions, optimizer) this way before anything runs;
    ``run_groups`` writes them after the parent's import path, then the rest of the job."""
    try:
        buffer = io.BytesIO()
        _Pickler(buffer).dump(job)
        payload = buffer.getvalue()
    except Exception as e:  # noqa: BLE001 - whatever the user's objects raise
        raise PairError(f"ranks={job.get('ranks', 'N')}: the ranks are separate processes and get the models, loss "
                        f"and functions by pickle, which failed ({type(e).__name__}: {str(e).splitlines()[0]}); "
                        "define them at the top level of a module the ranks can import (not lambdas or local "
                        "functions)") from None
    if b"__main__" in payload:
        raise PairError(f"ranks={job.get('ranks', 'N')}: something given to the check is defined in __main__ (the "
                        "script being run), which the ranks cannot import; define the models, loss and functions "
                        "in a module and import them")
    return payload


def run_groups(objects: bytes, job: dict, timeout: float, env: dict | None = None) -> dict:
    """Torch's group, then MLX's; each side's per-rank records (``PairError`` for a failed rank).
    ``objects``: the user's objects as ``job_bytes`` pickled them; ``job``: the rest."""
    payload = pickle.dumps(list(sys.path)) + objects + job_bytes(job)
    job_dir = tempfile.mkdtemp(prefix="pair-dp-")
    keep = False
    try:
        with open(f"{job_dir}/job.pkl", "wb") as f:
            f.write(payload)
        out = {}
        for name in ("torch", "mlx"):
            launch.run_group(name, job["ranks"], BACKENDS[name], job_dir, timeout, env=env, worker=RANK)
            out[name] = []
            for r in range(job["ranks"]):
                with open(f"{job_dir}/{name}.rank{r}.pkl", "rb") as f:
                    out[name].append(pickle.load(f))
        return out
    except launch.LaunchError as e:
        keep = True  # the line names the traceback or log in the job directory
        raise RankError(f"ranks={job['ranks']}: {e}") from None
    finally:
        if not keep:
            shutil.rmtree(job_dir, ignore_errors=True)


def lockstep(report: PairReport, checker, port, initial, w0: dict, batches: list, steps: int, ranks: int,
             shard: str, objects: bytes, shares: dict, ensemble: int | None, tell, env: dict | None = None) -> None:
    """Run both groups and judge them into ``report`` (its ledger, losses, free run and notes);
    ``shares``: ``plan(batches, ranks, shard)``, made when ``check`` validated its arguments."""
    from ..tolerances import FREE_RUNNING

    spec = checker.optimizer
    params = {n for n, p in initial.named_parameters() if p.requires_grad}
    count = FREE_RUNNING.members if ensemble is None else ensemble
    judged = report.ledger.mode
    members = [({**w0, **{n: w[n] for n in params}}, lr) for _, w, lr in member_specs(w0, spec.lr, judged, count)] \
        if count else []
    job = {"batches": batches, "steps": steps, "ranks": ranks, "shard": shard, "w0": w0, "members": members,
           "zero": {"step": np.float64(0), **{n + s: np.zeros_like(w0[n]) for n in params for s in spec.suffixes}}}
    tell(f"the data-parallel groups: torch's {ranks} ranks under torchrun, then MLX's under mlx.launch")
    records = run_groups(objects, job, TIMEOUT, env)
    offsets = np.cumsum([0] + [len(y) for _, y in batches])
    X = np.concatenate([np.asarray(b[0]) for b in batches])
    y = np.concatenate([np.asarray(b[1]) for b in batches])

    def global_rows(steps_: list[dict]) -> list[dict]:
        return [{**s, "rows": np.asarray(s["rows"]) + offsets[s["batch"]]} for s in steps_]

    for side in ("torch", "mlx"):  # a NaN or infinity: the run's verdict is NON-FINITE, as with one process
        bad = [(k, r, s["loss"]) for r, rec in enumerate(records[side]) for k, s in enumerate(rec["steps"], start=1)
               if not np.isfinite(s["loss"])]
        if bad:
            k, r, value = min(bad)
            report.non_finite.append(NonFinite(side, k, f"rank {r}'s training loss", value))
            return
    t_ranks = [{"steps": global_rows(r["steps"])} for r in records["torch"]]
    m_ranks = [{"steps": global_rows(r["steps"])} for r in records["mlx"]]
    tell("judging every rank's replayed steps")
    floors = judge_steps(report.ledger, checker, port, t_ranks, [r["replay"] for r in records["mlx"]], X, y, 1)
    judge_identical_ranks(report.ledger, checker, m_ranks)  # the rows are the harness's own: not judged
    mean = lambda series: list(np.mean(series, axis=0))  # noqa: E731 - the group's loss: the mean over ranks
    mine = mean([[s["loss"] for s in r["steps"]] for r in records["mlx"]])
    report.losses = {"torch": mean([[s["loss"] for s in r["steps"]] for r in records["torch"]]), "mlx": mine}
    if count:
        member_series = [mean([r["members"][i]["losses"] for r in records["torch"]]) for i in range(count)]
        judge_free_run(report, mine, member_series, np.asarray(floors), m_ranks[0]["steps"][-1]["after"][0],
                       t_ranks[0]["steps"][-1]["after"][0], [m["final"] for m in records["torch"][0]["members"]])
    sizes = "; ".join(f"a batch of {n} rows as {s}" for n, s in shares["sizes"].items())
    report.notes += [
        f"data-parallel: {ranks} ranks a framework (mlx ring under mlx.launch, torch gloo with "
        f"DistributedDataParallel under torchrun), every batch sharded by shard={shard!r} ({sizes})"
        + (f"; {shares['padded']} row(s) repeated, as DistributedSampler pads" if shares["padded"] else ""),
        "averaging in force: " + sharding.AVERAGING + ("; the shards here are uneven, so it differs from the full "
                                                       "batch's mean" if shares["uneven"] else "; the shards here "
                                                                                              "are even")]
