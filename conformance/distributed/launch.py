"""Start a data-parallel group with its framework's own launcher: ``mlx.launch`` for MLX (which
gives each process ``MLX_RANK`` and ``MLX_HOSTFILE``), ``torchrun --standalone`` for torch (its env
rendezvous on a free port). Every process gets ``OMP_NUM_THREADS=1`` (two ranks on two cores
would otherwise fight over them) and the project on ``PYTHONPATH``; the group has a timeout and is
killed whole when it runs past it; a failed process surfaces as one line: the rank and its error.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = {"mlx": ("ring", "nccl"), "torch": ("gloo", "nccl")}


class LaunchError(RuntimeError):
    """A group that failed to start, failed in a process or ran out of time: one line."""


def free_ports(count: int, start: int = 20000, stop: int = 60000) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 (the ring backend takes one a rank)."""
    first = (os.getpid() * 7919) % (stop - start - count) + start
    for base in list(range(first, stop - count, count)) + list(range(start, first, count)):
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise LaunchError(f"no {count} consecutive free ports on 127.0.0.1 between {start} and {stop}")


def _script(name: str, module: str) -> list[str]:
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    return [found] if found else [sys.executable, "-m", module]


def command(side: str, ranks: int, backend: str, job_dir: str) -> list[str]:
    """The launcher's command line that starts ``ranks`` workers of ``side``."""
    if backend not in BACKENDS[side]:
        raise LaunchError(f"--backend {backend} is not one of {side}'s ({', '.join(BACKENDS[side])})")
    if side == "mlx":
        launch = _script("mlx.launch", "mlx._distributed_utils.launch")
        return [*launch, "-n", str(ranks), "--backend", backend, "--starting-port", str(free_ports(ranks)),
                "--python", sys.executable, WORKER, job_dir, side]
    return [*_script("torchrun", "torch.distributed.run"), "--standalone", "--nproc-per-node", str(ranks),
            "--max-restarts", "0", WORKER, job_dir, side]


def run_group(side: str, ranks: int, backend: str, job_dir: str, timeout: float = 600.0,
              env: dict | None = None) -> None:
    """Run ``side``'s group to the end; raise ``LaunchError`` with one line if any process fails."""
    cmd = command(side, ranks, backend, job_dir)
    env = dict(env or {})
    paths = (env.pop("PYTHONPATH", ""), ROOT, os.environ.get("PYTHONPATH", ""))
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(p for p in paths if p), **env}
    environment.pop("MLX_RANK", None), environment.pop("MLX_HOSTFILE", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher's own session: it and the workers it started
        proc.communicate()
        raise LaunchError(f"{side}: the {ranks}-process group ({os.path.basename(cmd[0])}) ran past its timeout of "
                          f"{timeout:g} s and was stopped") from None
    log = os.path.join(job_dir, f"{side}.launcher.log")
    with open(log, "w") as f:  # the launcher's whole output, for the failure's post-mortem
        f.write(f"$ {' '.join(cmd)}\n--- stdout\n{out or ''}--- stderr\n{err or ''}")
    errors = sorted(glob.glob(os.path.join(job_dir, f"{side}.rank*.error")))
    if errors:
        with open(errors[0]) as f:
            first = f.readline().strip()
        rank = os.path.basename(errors[0]).split(".")[1]
        raise LaunchError(f"{side} {rank.replace('rank', 'rank ')}: {first} (traceback in {errors[0]})")
    if proc.returncode != 0:
        lines = [line for line in (err or out or "").splitlines() if line.strip().strip("=-")]
        lines = [line for line in lines if "rror" in line] or lines  # torchrun frames its report in rules
        raise LaunchError(f"{side}: {os.path.basename(cmd[0])} exited with status {proc.returncode}: "
                          f"{lines[-1].strip() if lines else 'no message'} (its output in {log})")
    missing = [r for r in range(ranks) if not os.path.exists(os.path.join(job_dir, f"{side}.rank{r}.pkl"))]
    if missing:
        raise LaunchError(f"{side}: rank(s) {missing} ended without writing their records")
