"""Benchmarks: the document's pipeline in MLX and PyTorch, timed on the CPU and the GPU.

``python -m pytest benchmarks`` runs the matrix (see ``benchmarks/conftest.py`` for the options);
``python -m benchmarks.summarize BENCH.json --out DIR`` turns pytest-benchmark's JSON into a
Markdown table and a plot. ``cases.py`` holds the sizes and the work models (floating-point
operations, bytes), ``calls.py`` builds each timed call from ``mlx_reference`` and
``reference_torch`` (so the code timed is the product), ``torch_variants.py`` the ways torch's
users run the same model (foreach and fused Adam, ``torch.compile``), ``harness.py`` times them
(warm-up, rounds, load, environment), ``peaks.py`` measures the device limits the summary compares
against, ``profile_step.py`` breaks one training step into its operations or kernels.
"""
