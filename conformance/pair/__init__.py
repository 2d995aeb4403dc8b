"""Check your own port: lockstep conformance of any MLX model against its PyTorch original.

    from conformance import pair
    report = pair.check(mlx_model, torch_model, (X, y), loss="cross_entropy", optimizer=pair.Adam(1e-3))
    report.assert_conforms()

See ``engine.check`` for the arguments, ``layouts`` for the weight-layout rules (and how to add one
for a custom layer), ``losses`` for the named losses, ``select`` for ``output=``, ``errors`` for the
one exception (``PairError``), and the README's "Check your own port".
"""

from ..optimizers import Adam, AdamW, SGD, Optimizer  # noqa: F401
from .engine import check  # noqa: F401
from .errors import PairError, RankError  # noqa: F401
from .layouts import Rule, after_flatten, register  # noqa: F401
from .losses import Loss, loss_named  # noqa: F401
from .mapping import Mapping, MappingError  # noqa: F401
from .verdict import PairReport  # noqa: F401


def channels_last(x):
    """An input batch from torch's channels-first layout (N, C, ...) to MLX's channels-last (N, ..., C)."""
    import numpy as np

    return np.moveaxis(np.asarray(x), 1, -1)

__all__ = ["Adam", "AdamW", "SGD", "Optimizer", "Loss", "PairReport", "PairError", "RankError", "check", "loss_named", "Rule",
           "after_flatten", "register", "Mapping", "MappingError", "channels_last"]
