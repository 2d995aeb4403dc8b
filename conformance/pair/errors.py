"""The one exception ``conformance.pair`` raises for input it cannot judge.

``PairError`` (a ``ValueError``) carries one line naming the argument, batch, layer or tensor and
what to do. ``pair.check`` raises it before anything runs, for arguments it cannot use (the models'
types, ``steps``, ``ensemble``, the batches, the loss, the optimizer, ``names``/``rules`` keys,
dtypes, the device, the memory a check would hold). Models that are valid but cannot be paired (a
layer without a rule, a shape or flag that differs, dropout) are not errors: ``check`` returns a
report whose status is ``not-comparable`` and whose summary names the reason. ``RankError``, a
``PairError``, is a data-parallel check's (``ranks=``) process that failed or ran past its timeout:
its line names the side, the rank, the error and where the traceback is kept.
"""

from __future__ import annotations


class PairError(ValueError):
    """Input ``pair.check`` cannot judge: one line naming what to fix."""


class RankError(PairError):
    """``ranks=``: a rank's process failed or ran past its timeout (one line naming it)."""
