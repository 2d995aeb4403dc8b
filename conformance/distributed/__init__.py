"""Data-parallel conformance: MLX's ``mx.distributed`` group against torch's DDP group, rank by rank.

Each framework's group runs once under its own launcher (``launch``: ``mlx.launch`` and
``torchrun``), every rank taking its shard of each batch by the one rule of ``sharding``. The
torch group records, per rank and per step, its state before the step, its batch rows, its local
gradient, the averaged gradient and its state after (``worker``); the MLX group trains freely and
then replays every torch rank's step from that rank's recorded state. ``verdict`` judges the
replay on the single-process engine (``conformance.local``'s checker, ``conformance.ledger``) with
a derived bound for the W-term average on top of the per-rank gradient bounds, and the MLX group's
free run against torch's group and perturbed torch groups (``conformance.ensemble``); ``run``
ties it together for ``python -m conformance --ranks N``.
"""
