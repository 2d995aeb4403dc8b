"""The limits each device could reach: published figures where known, measured probes always.

The summary compares every result with these: achieved GFLOP/s against ``flops_peak``, achieved
GB/s against ``bw_peak``, and the time against the floor ``max(flops / flops_peak,
bytes_min / bw_peak)``.

- NVIDIA GPUs with a published datasheet entry below use NVIDIA's figures (dense, no
  sparsity), picked by the float32 matmul precision mode: IEEE float32 runs on the CUDA cores
  (the FP32 figure), TF32 on the tensor cores (the TF32 figure).
- Every other device (any CPU, Metal, other GPUs) uses what this module measures: the best of
  torch's, numpy's and MLX's float32 matmul (square, large) and a device-to-device copy
  (bytes read + bytes written per second). A measured matmul rate is what a good BLAS reaches
  here, not the silicon's theoretical peak; it is the honest ceiling for these libraries.
- ``latency``: one tiny elementwise op and its wait, per framework (best of 5 bursts of 100): the least any timed call
  costs, whatever its size (dispatch, launch, synchronization).
"""

from __future__ import annotations

import time

# NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200/, "Technical
# Specifications"): H200 SXM: FP32 67 TFLOPS, TF32 Tensor Core 989 TFLOPS with sparsity (494.7
# dense), GPU memory bandwidth 4.8 TB/s (HBM3e); H200 NVL: FP32 60 TFLOPS, TF32 835 TFLOPS with
# sparsity (417.5 dense), 4.8 TB/s.
PUBLISHED = (
    {"match": "H200 NVL", "fp32_flops": 60e12, "tf32_flops": 417.5e12, "bw": 4.8e12,
     "source": "NVIDIA H200 datasheet, H200 NVL: FP32 60 TFLOPS, TF32 tensor 835 TFLOPS sparse = 417.5 dense, HBM3e 4.8 TB/s"},
    {"match": "H200", "fp32_flops": 67e12, "tf32_flops": 494.7e12, "bw": 4.8e12,
     "source": "NVIDIA H200 datasheet, H200 SXM: FP32 67 TFLOPS, TF32 tensor 989 TFLOPS sparse = 494.7 dense, HBM3e 4.8 TB/s"},
)


def published(device_name: str | None) -> dict | None:
    for entry in PUBLISHED:
        if device_name and entry["match"].lower() in device_name.lower():
            return dict(entry)
    return None


def _best(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _latency(fn) -> float:
    """Best of 5 bursts of 100 calls, 50 ms apart: a floor that one busy moment cannot lift."""
    best = float("inf")
    for _ in range(5):
        best = min(best, _best(fn, 100))
        time.sleep(0.05)
    return best


def probe_cpu() -> dict:
    """Measure this CPU: float32 matmul rates (torch, numpy, MLX) and copy bandwidth (numpy)."""
    import mlx.core as mx
    import numpy as np
    import torch

    out: dict = {}
    with_cpu = mx.cpu
    # latencies first, before any multi-threaded matmul leaves BLAS threads spinning
    t = torch.ones(1)
    x = mx.ones((1,), stream=with_cpu)
    mx.eval(x)
    out["latency_s"] = {
        "mlx": _latency(lambda: mx.eval(mx.add(x, 1, stream=with_cpu))),
        "torch": _latency(lambda: t + 1),
    }
    n = 2048
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    out["torch_sgemm_gflops"] = 2 * n**3 / _best(lambda: torch.mm(a, b), 3) / 1e9
    an, bn = a.numpy(), b.numpy()
    out["numpy_sgemm_gflops"] = 2 * n**3 / _best(lambda: an @ bn, 3) / 1e9
    m = 512  # MLX's Linux CPU wheel links a reference BLAS: keep its probe short
    am = mx.random.normal((m, m), stream=with_cpu)
    bm = mx.random.normal((m, m), stream=with_cpu)
    mx.eval(am, bm)
    out["mlx_sgemm_gflops"] = 2 * m**3 / _best(lambda: mx.eval(mx.matmul(am, bm, stream=with_cpu)), 3) / 1e9
    nbytes = 256 * 2**20
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    out["copy_gbs"] = 2 * nbytes / _best(lambda: np.copyto(dst, src), 5) / 1e9
    flops = max(out["torch_sgemm_gflops"], out["numpy_sgemm_gflops"], out["mlx_sgemm_gflops"])
    return {
        "flops_peak": flops * 1e9,
        "flops_source": f"measured: best float32 matmul here ({n}x{n}: torch {out['torch_sgemm_gflops']:.0f}, "
                        f"numpy {out['numpy_sgemm_gflops']:.0f}; MLX CPU {m}x{m}: {out['mlx_sgemm_gflops']:.1f} GFLOP/s)",
        "bw_peak": out["copy_gbs"] * 1e9,
        "bw_source": f"measured: numpy copy of 256 MiB, read + write: {out['copy_gbs']:.1f} GB/s",
        "latency_s": out["latency_s"],
        "measured": out,
    }


def probe_gpu(mode: str, torch_ok: bool, mlx_ok: bool, device_name: str | None) -> dict:
    """Measure the GPU (matmul and copy, with whichever frameworks have it) and attach the
    published figures when the device is known. ``mode`` picks FP32 or TF32 figures."""
    out: dict = {"latency_s": {}}
    try:
        if torch_ok:
            _probe_torch_gpu(out)
    except Exception as e:  # noqa: BLE001  (one framework's failed probe must not lose the other's)
        out["torch_error"] = f"{type(e).__name__}: {e}"
    try:
        if mlx_ok:
            _probe_mlx_gpu(out)
    except Exception as e:  # noqa: BLE001
        out["mlx_error"] = f"{type(e).__name__}: {e}"
    n = _GPU_N
    flops = max([v for k, v in out.items() if k.endswith("sgemm_gflops")] or [0.0]) * 1e9
    bw = max([v for k, v in out.items() if k.endswith("copy_gbs")] or [0.0]) * 1e9
    pub = published(device_name)
    result = {"latency_s": out.pop("latency_s"), "measured": out, "published": pub}
    if pub:
        key = "tf32_flops" if mode == "tf32" else "fp32_flops"
        result.update(flops_peak=pub[key], bw_peak=pub["bw"],
                      flops_source=f"published ({'TF32 tensor, dense' if mode == 'tf32' else 'FP32'}): {pub['source']}",
                      bw_source=f"published: {pub['source']}")
    elif flops and bw:
        result.update(flops_peak=flops, bw_peak=bw,
                      flops_source=f"measured: best float32 {n}x{n} matmul on the GPU ({mode})",
                      bw_source="measured: device copy of 1 GiB, read + write")
    return result


_GPU_N = 8192
_GPU_BYTES = 2**30


def _probe_torch_gpu(out: dict) -> None:
    import torch

    from reference_torch.device import gpu_backend, synchronize

    n, nbytes = _GPU_N, _GPU_BYTES
    dev = gpu_backend()
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)

    def mm():
        torch.mm(a, b)
        synchronize("gpu")
    out["torch_sgemm_gflops"] = 2 * n**3 / _best(mm, 5) / 1e9
    src = torch.ones(nbytes // 4, device=dev)
    dst = torch.empty_like(src)

    def copy():
        dst.copy_(src)
        synchronize("gpu")
    out["torch_copy_gbs"] = 2 * nbytes / _best(copy, 5) / 1e9
    t = torch.ones(1, device=dev)

    def tiny():
        t.add(1)
        synchronize("gpu")
    out["latency_s"]["torch"] = _latency(tiny)
    del a, b, src, dst
    if dev == "cuda":
        torch.cuda.empty_cache()


def _probe_mlx_gpu(out: dict) -> None:
    import mlx.core as mx

    n, nbytes = _GPU_N, _GPU_BYTES
    g = mx.gpu
    a = mx.random.normal((n, n), stream=g)
    b = mx.random.normal((n, n), stream=g)
    mx.eval(a, b)
    out["mlx_sgemm_gflops"] = 2 * n**3 / _best(lambda: mx.eval(mx.matmul(a, b, stream=g)), 5) / 1e9
    src = mx.ones((nbytes // 4,), stream=g)
    mx.eval(src)
    out["mlx_copy_gbs"] = 2 * nbytes / _best(lambda: mx.eval(mx.add(src, 1, stream=g)), 5) / 1e9
    x = mx.ones((1,), stream=g)
    mx.eval(x)
    out["latency_s"]["mlx"] = _latency(lambda: mx.eval(mx.add(x, 1, stream=g)))
    del a, b, src
    mx.clear_cache()
