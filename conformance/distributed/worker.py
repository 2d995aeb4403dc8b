"""One rank of a data-parallel group: the side's ``distributed.run_pipeline`` on this rank's shards,
recorded step by step, and (MLX) the replay of every torch rank's recorded step.

Started by the framework's own launcher (``conformance.distributed.launch``) as
``<launcher> ... worker.py JOB_DIR SIDE``; reads ``JOB_DIR/job.pkl``, writes
``JOB_DIR/SIDE.rank<r>.pkl`` and, on failure, ``JOB_DIR/SIDE.rank<r>.error`` (one line). What a
rank records for the run being judged, per step: its batch rows, the learning rate, its state
before and after the step (weights, Adam moments and step), its loss on its rows, its local
gradient (the gradient of that loss, computed apart on a copy of the model holding the state
before the step) and the averaged gradient its step applied. The perturbed runs (torch's ensemble)
record their losses and results only.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback

if __package__ in (None, ""):  # run as a script by a launcher: import the project from its root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402


class Recorder:
    """``on_step`` of a rank's run: everything the verdict needs about each step (``full``), or
    only the losses."""

    def __init__(self, pkg, weights: dict, hidden: int, full: bool):
        self.pkg, self.full = pkg, full
        zeros = {f"{k}{s}": np.zeros_like(v, dtype=np.float32) for k, v in weights.items()
                 for s in (".exp_avg", ".exp_avg_sq")}
        self.state = ({k: np.asarray(v, np.float32) for k, v in weights.items()}, {**zeros, "step": np.float64(0)})
        self.steps: list[dict] = []
        self.losses: list[float] = []
        in_features = np.shape(weights["fc1.weight"])[1]
        self.observer = pkg.model.to_dtype(pkg.model.SimpleNN(in_features, hidden), "float32") if full else None

    def __call__(self, model, optimizer, loss, grads, rows, Xb, yb) -> None:
        pkg = self.pkg
        value = float(pkg.data.to_numpy(loss))
        self.losses.append(value)
        if not self.full:
            return
        w0, s0 = self.state
        pkg.model.load_weights(self.observer, w0)
        local_loss, local = pkg.loss.loss_and_gradients(self.observer, Xb, yb)
        after = (pkg.model.export_weights(model), pkg.optim.export_optimizer_state(optimizer, model))
        self.steps.append({"rows": np.asarray(rows), "lr": pkg.optim.get_learning_rate(optimizer),
                           "before": self.state, "after": after, "loss": value, "local_loss": local_loss,
                           "local": local, "averaged": {k: pkg.data.to_numpy(v) for k, v in _flat(grads).items()}})
        self.state = after


def _flat(grads) -> dict:
    if isinstance(grads, dict) and all(not isinstance(v, dict) for v in grads.values()):
        return grads
    from mlx.utils import tree_flatten

    return dict(tree_flatten(grads))


def replay(pkg, group, job: dict, rank: int, torch_steps: list[dict], X: np.ndarray, y: np.ndarray) -> list[dict]:
    """MLX's step restarted from torch rank ``rank``'s recorded state at every step: its local loss
    and gradient on that rank's rows, ``average_gradients`` of torch's local gradients (the
    averaging alone), and its own data-parallel training step (local gradients, the group's
    average, Adam), all on the group this process belongs to."""
    import mlx.core as mx

    cfg = job["config"]
    in_features, hidden = X.shape[1], cfg["hidden"]
    model = pkg.model.to_dtype(pkg.model.SimpleNN(in_features, hidden), "float32")
    observer = pkg.model.to_dtype(pkg.model.SimpleNN(in_features, hidden), "float32")
    optimizer = pkg.optim.make_adam(model, cfg["learning_rate"])
    step = pkg.distributed.make_train_step(model, optimizer, group, compiled=cfg["compiled"])
    out = []
    for rec in torch_steps:
        (w0, s0), rows = rec["before"], rec["rows"]
        Xb, yb = pkg.data.to_array(X[rows]), pkg.data.to_array(y[rows])
        pkg.model.load_weights(observer, w0)
        local_loss, local = pkg.loss.loss_and_gradients(observer, Xb, yb)
        of_reference = pkg.distributed.average_gradients(rec["local"], group)
        pkg.model.load_weights(model, w0)
        pkg.optim.import_optimizer_state(optimizer, model, s0)
        pkg.optim.set_learning_rate(optimizer, rec["lr"])
        loss, grads = step(Xb, yb)
        mx.eval(loss, grads, model.parameters(), optimizer.state)
        out.append({"local_loss": local_loss, "local": local, "average_of_reference": of_reference,
                    "loss": float(pkg.data.to_numpy(loss)),
                    "averaged": {k: pkg.data.to_numpy(v) for k, v in _flat(grads).items()},
                    "after": (pkg.model.export_weights(model), pkg.optim.export_optimizer_state(optimizer, model))})
    return out


def main(job_dir: str, side_name: str) -> None:
    from conformance.distributed import sharding
    from conformance.sides import side

    with open(os.path.join(job_dir, "job.pkl"), "rb") as f:
        job = pickle.load(f)
    cfg = job["config"]
    pkg = side(side_name)
    import_module = __import__(f"{pkg.__name__}.distributed", fromlist=["distributed"])
    pkg.distributed = import_module
    group = pkg.distributed.init_group(cfg["backend"][side_name])
    rank, size = pkg.distributed.rank_and_size(group)
    if size != cfg["ranks"]:
        raise RuntimeError(f"the launcher started {size} process(es), the job asks for {cfg['ranks']}")
    n = len(job["splits"]["train"][1])

    def batches_of(epoch: int) -> list:
        return sharding.batches(n, size, rank, cfg["seed"], epoch, cfg["batch_size"], cfg["rule"], cfg["shuffle"])

    out = {"rank": rank, "size": size, "runs": {}}
    for label, weights, lr in [("main", job["weights"], cfg["learning_rate"])] + list(job.get("members", {}).get(side_name, [])):
        rec = Recorder(pkg, weights, cfg["hidden"], full=label == "main")
        result = pkg.distributed.run_pipeline(job["splits"], weights, group, batches_of, cfg["epochs"], lr,
                                              cfg["compiled"], cfg["device"], on_step=rec)
        out["runs"][label] = {"result": result, "losses": rec.losses, "steps": rec.steps}
    if side_name == "mlx" and job.get("replay_from"):
        with open(os.path.join(job_dir, f"{job['replay_from']}.rank{rank}.pkl"), "rb") as f:
            reference = pickle.load(f)["runs"]["main"]
        X = reference["result"]["standardized"]["train"]
        out["replay"] = replay(pkg, group, job, rank, reference["steps"], X, job["splits"]["train"][1])
    write_records(job_dir, side_name, rank, out)


def write_records(job_dir: str, side_name: str, rank: int, out: dict) -> None:
    """``JOB_DIR/SIDE.rank<r>.pkl``, whole or not at all (the launcher reads only finished files)."""
    tmp = os.path.join(job_dir, f".{side_name}.rank{rank}.pkl.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(out, f)
    os.replace(tmp, os.path.join(job_dir, f"{side_name}.rank{rank}.pkl"))


def run_rank(main) -> None:
    """A rank's entry point, ``main(JOB_DIR, SIDE)`` from the command line; any failure becomes one
    line for the launcher to surface (``SIDE.rank<r>.error``), the traceback beside it, and exit 1."""
    job_dir, side_name = sys.argv[1], sys.argv[2]
    rank = os.environ.get("MLX_RANK", os.environ.get("RANK", "?"))
    try:
        main(job_dir, side_name)
    except BaseException as e:
        with open(os.path.join(job_dir, f"{side_name}.rank{rank}.error"), "w") as f:
            f.write(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}\n")
            f.write(traceback.format_exc())
        sys.exit(1)


if __name__ == "__main__":
    run_rank(main)
