"""Start a data-parallel group with its framework's own launcher: ``mlx.launch`` for MLX (which
gives each process ``MLX_RANK`` and ``MLX_HOSTFILE``), ``torchrun`` for torch (its static
rendezvous on ``127.0.0.1:PORT``: the agent's TCP store, which the workers share). Every port is
chosen here, bound to check it is free, and taken below the kernel's ephemeral range (which
``torchrun --standalone``'s own choice, bind to port 0 and close, falls in: any process's outgoing
connection may take it before the store binds it again). A torch group whose store found its port
taken (torchrun's ``EADDRINUSE``, and no rank started) is started again on another port, twice at
most; no other failure is retried. Every process gets ``OMP_NUM_THREADS=1`` (two ranks on two
cores would otherwise fight over them) and the project on ``PYTHONPATH``; the group has a timeout
and is killed whole when it runs past it; a failed process surfaces as one line: the rank and its
error, the launcher's whole output kept beside it.
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


PORT_RETRIES = 2  # a torch group's store that lost its port to another process: started again this often


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ports for outgoing connections (Linux's ``ip_local_port_range``; else IANA's)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(v) for v in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 49152, 65535


def free_ports(count: int, start: int = 20000, stop: int | None = None) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 (the ring backend takes one a
    rank; torch's store one), below the ephemeral range (``stop``: its first port) so no outgoing
    connection is given one of them between this check and the launcher's bind."""
    stop = stop or ephemeral_range()[0]
    if stop - start <= 2 * count:
        start, stop = 20000, 60000  # an unusual ephemeral range: take the old span
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


def command(side: str, ranks: int, backend: str, job_dir: str, worker: str = WORKER) -> list[str]:
    """The launcher's command line that starts ``ranks`` processes of ``worker JOB_DIR SIDE``."""
    if backend not in BACKENDS[side]:
        raise LaunchError(f"--backend {backend} is not one of {side}'s ({', '.join(BACKENDS[side])})")
    if side == "mlx":
        launch = _script("mlx.launch", "mlx._distributed_utils.launch")
        return [*launch, "-n", str(ranks), "--backend", backend, "--starting-port", str(free_ports(ranks)),
                "--python", sys.executable, worker, job_dir, side]
    return [*_script("torchrun", "torch.distributed.run"), "--nnodes", "1", "--nproc-per-node", str(ranks),
            "--master-addr", "127.0.0.1", "--master-port", str(free_ports(1)), "--max-restarts", "0",
            worker, job_dir, side]


def port_taken(err: str) -> bool:
    """Whether torchrun failed because its store's port was taken: its TCPStore's EADDRINUSE."""
    return "EADDRINUSE" in err and "failed to listen" in err


def run_group(side: str, ranks: int, backend: str, job_dir: str, timeout: float = 600.0,
              env: dict | None = None, worker: str = WORKER) -> None:
    """Run ``side``'s group to the end; raise ``LaunchError`` with one line if any process fails.
    ``worker``: the script each process runs (the document's pipeline; ``conformance.pair.ranks``'s)."""
    for attempt in range(PORT_RETRIES + 1):
        retry = _run_once(side, ranks, backend, job_dir, timeout, env, last=attempt == PORT_RETRIES, worker=worker)
        if not retry:
            return


def _run_once(side: str, ranks: int, backend: str, job_dir: str, timeout: float, env: dict | None,
              last: bool, worker: str = WORKER) -> bool:
    """One start of the group; True when it should start again (its port was taken)."""
    cmd = command(side, ranks, backend, job_dir, worker)
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
    if proc.returncode != 0 and side == "torch" and not last and port_taken(err or ""):
        os.replace(log, f"{log}.port-taken-{cmd[cmd.index('--master-port') + 1]}")
        return True
    if proc.returncode != 0:
        lines = [line for line in (err or out or "").splitlines() if line.strip().strip("=-")]
        lines = [line for line in lines if "rror" in line] or lines  # torchrun frames its report in rules
        raise LaunchError(f"{side}: {os.path.basename(cmd[0])} exited with status {proc.returncode}: "
                          f"{lines[-1].strip() if lines else 'no message'} (its output in {log})")
    missing = [r for r in range(ranks) if not os.path.exists(os.path.join(job_dir, f"{side}.rank{r}.pkl"))]
    if missing:
        raise LaunchError(f"{side}: rank(s) {missing} ended without writing their records")
    return False
