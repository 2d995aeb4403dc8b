"""Benchmarks: the document's pipeline in MLX and PyTorch, timed on the CPU and the GPU.

``python -m pytest benchmarks`` runs the matrix (see ``benchmarks/conftest.py`` for the options);
``python -m benchmarks.summarize BENCH.json --out DIR`` turns pytest-benchmark's JSON into a
Markdown table and a plot. ``cases.py`` holds the sizes and the work models (floating-point
operations, bytes), ``harness.py`` builds each timed call from ``mlx_reference`` and
``reference_torch`` (so the code timed is the product) and decides rounds, ``peaks.py`` the
device limits the summary compares against.
"""
