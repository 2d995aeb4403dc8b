"""``conformance.pair`` for transformers models and their mlx-lm ports.

``pair.check(mlx_lm_model, hf_model, input_ids, loss="causal_lm")`` works as for any pair: when the
torch model is a transformers ``PreTrainedModel``, ``adapter.adapt`` supplies the names and rules
(``rules``: transformers' norms, Conv1D, scaled embeddings, tied heads, MoE routers and experts)
and refuses the flags that differ (rope, eps, tie, dropout); ``loss.causal_lm`` is next-token
cross-entropy. ``zoo`` builds tiny random pairs from one description, ``matrix`` checks them all.
Needs the ``[hf]`` extra (mlx-lm, transformers, peft).
"""

from .adapter import adapt, is_transformers  # noqa: F401
from .loss import BatchError, CausalLM, causal_lm  # noqa: F401
