"""Registry entries: embeddings, attention and transformers, and recurrent layers.

The proofs move torch's weights into MLX with ``tests/pitfalls/layouts.py`` (one function per
kind of layer).
"""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- embeddings, attention, transformers
    entry(
        "embedding-init", section="attention", seed_defect=False, kind="silent",
        title="`nn.Embedding` starts at N(0, 1/dims) in MLX, N(0, 1) in torch",
        mlx="`nn.Embedding(n, dims)` draws its table from a normal distribution of standard deviation 1/sqrt(dims).",
        torch="`nn.Embedding(n, dims)` draws from N(0, 1).",
        naive_failure=(
            "For 64 dimensions MLX's embeddings start {std_ratio:.3g} times as large as torch's: a recipe tuned in "
            "torch (its learning rate, its positional encodings added to the embeddings, a scale by sqrt(dims)) "
            "meets vectors eight times smaller. Redrawn from N(0, 1), the ratio is {fixed_ratio:.3g}."),
        fix="`emb.weight = mx.random.normal(emb.weight.shape)` for torch's start (or copy torch's table: the layout is the same).",
        reference=("mlx.nn.Embedding", "torch.nn.Embedding", "conformance.pair.layouts.EMBEDDING"),
        measured=(
            Measurement("std_ratio", 0.125662, "std of a fresh MLX Embedding(1000, 64) / std of torch's"),
            Measurement("fixed_ratio", 1.00428, "std of the table redrawn from N(0, 1) / std of torch's"),
        ),
    ),
    entry(
        "mha-bias-default", section="attention", seed_defect=False, kind="silent",
        title="`nn.MultiHeadAttention` has no biases by default, and no packed in-projection",
        mlx=("`nn.MultiHeadAttention(dims, heads, bias=False)`: four Linear layers `query_proj`, `key_proj`, "
             "`value_proj`, `out_proj`; inputs (N, L, dims)."),
        torch=("`nn.MultiheadAttention(dims, heads, bias=True)`: one packed `in_proj_weight` (3 dims, dims) and "
               "`in_proj_bias`, then `out_proj`; inputs (L, N, dims) unless `batch_first=True`."),
        naive_failure=(
            "With torch's weights split into the four projections but the default `bias=False` (there is nowhere to "
            "put torch's biases), the outputs are {gap:.3g} away from torch's once the biases have trained."),
        fix="`nn.MultiHeadAttention(dims, heads, bias=True)` and `layouts.multi_head_attention` (split `in_proj` in three).",
        reference=("mlx.nn.MultiHeadAttention", "torch.nn.MultiheadAttention", "conformance.pair.layouts.MULTIHEAD_ATTENTION"),
        measured=(Measurement("gap", 0.574193, "max |MLX - torch| of attention (8 dims, 2 heads) with torch's biases U(-1, 1) "
                              "left out"),),
    ),
    entry(
        "attention-bool-mask-inverted", section="attention", seed_defect=False, kind="silent",
        title="Boolean attention masks mean the opposite: True is masked in torch's `MultiheadAttention`, kept in MLX",
        mlx=("`nn.MultiHeadAttention(..., mask=m)` and `mx.fast.scaled_dot_product_attention`: a boolean `m` is True "
             "where attention is allowed; an additive mask adds (`-inf` to forbid)."),
        torch=("`nn.MultiheadAttention(attn_mask=m)` (and `TransformerEncoderLayer`'s `src_mask`): True where "
               "attention is NOT allowed. (`F.scaled_dot_product_attention` uses MLX's convention.)"),
        naive_failure=(
            "A causal mask passed on as it is lets every token attend only to the tokens after it, itself "
            "excluded: the outputs are {gap:.3g} away from torch's, with no error."),
        fix="`mask=mx.array(~m)`, or an additive mask (`nn.MultiHeadAttention.create_additive_causal_mask(L)`).",
        reference=("mlx.nn.MultiHeadAttention", "mlx.core.fast.scaled_dot_product_attention"),
        mlx_versions=">=0.22.0",
        history=("Boolean masks arrived in 0.22.0 (ml-explore/mlx#1753); before, a boolean mask was added to the "
                 "scores as 0 and 1, which masks nothing"),
        measured=(Measurement("gap", 0.857714, "max |MLX - torch| of attention (8 dims, 2 heads, 4 tokens) given torch's causal "
                              "boolean mask as is"),),
    ),
    entry(
        "transformer-encoder-layer-defaults", section="attention", seed_defect=False, kind="silent",
        title="`TransformerEncoderLayer`: pre-norm, no dropout, a 4 x dims MLP and bias-free attention in MLX",
        mlx=("`nn.TransformerEncoderLayer(dims, heads, mlp_dims=None, dropout=0.0, norm_first=True)`: "
             "mlp_dims 4 x dims, attention without biases; `nn.TransformerEncoder` adds a final LayerNorm."),
        torch=("`nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1, norm_first=False)`: "
               "post-norm, biased attention, inputs (L, N, d) unless `batch_first=True`; `nn.TransformerEncoder` "
               "has no final norm unless given one."),
        naive_failure=(
            "The same name is another architecture: torch's trained layer (post-norm) loaded into MLX's with the "
            "MLP sized to fit gives outputs {gap:.3g} away from torch's, and trains without dropout."),
        fix=("`nn.TransformerEncoderLayer(dims, heads, mlp_dims=dim_feedforward, dropout=0.1, norm_first=False)`, "
             "then `layer.attention = nn.MultiHeadAttention(dims, heads, bias=True)`, and "
             "`layouts.transformer_encoder_layer` for the weights."),
        reference=("mlx.nn.TransformerEncoderLayer", "torch.nn.TransformerEncoderLayer"),
        measured=(Measurement("gap", 1.70977, "max |MLX - torch| of one layer (8 dims, 2 heads, MLP 32) in evaluation mode, "
                              "torch's weights in MLX's default layer"),),
    ),
    # ---------------------------------------------------------------- recurrent
    entry(
        "lstm-layout-and-bias", section="recurrent", seed_defect=False, kind="silent",
        title="`nn.LSTM`: batch-first, one bias, every step's hidden and cell state",
        mlx=("`nn.LSTM(input_size, hidden_size)`: input (N, L, D) or (L, D), weights `Wx` (4H, D) and `Wh` (4H, H), "
             "one `bias` (4H); returns the hidden and cell states of every step."),
        torch=("`nn.LSTM`: input (L, N, D) by default (`batch_first=False`), `bias_ih` and `bias_hh` (added "
               "together), returns (every step's output, (h_n, c_n)); layers and directions as options."),
        naive_failure=(
            "torch's time-major sequences given to MLX as they are run as a batch of L sequences of length N: "
            "{time_major_gap:.3g} off; and only one of torch's two biases copied into `bias`: {one_bias_gap:.3g} off. "
            "Even converted right, training differs: torch steps both of its biases, so their sum moves "
            "{bias_step_ratio:.3g} times as far as MLX's one bias in an SGD step."),
        fix=("`layouts.batch_first` for inputs, `layouts.lstm` for weights (`bias = bias_ih + bias_hh`); to train as "
             "torch does, double the bias's gradient (SGD) or keep two bias arrays of your own; stack layers yourself. "
             "GRU's `b` merges two biases for r and z the same way."),
        reference=("mlx.nn.LSTM", "torch.nn.LSTM", "conformance.pair.layouts.LSTM"),
        measured=(
            Measurement("time_major_gap", 0.199804, "max |MLX - torch| of LSTM(3, 5) on (7, 2, 3) time-major input given as is"),
            Measurement("one_bias_gap", 0.192671, "the same with batch-first input and bias = bias_ih only"),
            Measurement("bias_step_ratio", 2.0, "|change of torch's bias_ih + bias_hh| / |change of MLX's bias| after one "
                        "SGD step (lr 0.1) on the sum of the outputs", rel=1e-4),
        ),
    ),
    entry(
        "gru-bias-layout", section="recurrent", seed_defect=False, kind="silent",
        title="`nn.GRU`'s biases: the hidden bias of the candidate gate stays apart (`bhn`)",
        mlx=("`nn.GRU`: `b` (3H) for the input side of r, z, n and for the hidden side of r and z, and `bhn` (H), "
             "applied inside the reset gate: n = tanh(x W_n + b_n + r (h W_hn + bhn))."),
        torch="`nn.GRU`: `bias_ih` (3H) and `bias_hh` (3H), the n part of `bias_hh` inside the reset gate.",
        naive_failure=(
            "Summing the two biases, as for the LSTM, puts b_hn outside the reset gate: {summed_gap:.3g} off over 7 steps."),
        fix="`layouts.gru`: `b = bias_ih + [bias_hh_r, bias_hh_z, 0]`, `bhn = bias_hh_n`.",
        reference=("mlx.nn.GRU", "torch.nn.GRU", "conformance.pair.layouts.GRU"),
        measured=(Measurement("summed_gap", 0.109374, "max |MLX - torch| of GRU(3, 5) on (2, 7, 3) with b = bias_ih + bias_hh, "
                              "bhn = 0"),),
    ),
    entry(
        "gru-first-step-bias", section="recurrent", seed_defect=False, kind="silent",
        title="Before MLX 0.31.2, `nn.GRU` without an initial state left `bhn` out of its first step",
        mlx=("`gru(x)` (no `hidden`) computes the first step as if h = 0 but, before 0.31.2, without the "
             "r * bhn term; `gru(x, hidden=zeros)` included it."),
        torch="`nn.GRU(x)` starts from h = 0, biases included.",
        naive_failure=(
            "On MLX before 0.31.2 a GRU with torch's weights differs from torch's from the first step on: "
            "{old_gap:.3g} over 7 steps (that first step recomputed here as the old code did)."),
        fix="MLX 0.31.2 or later; before, pass `hidden=mx.zeros((N, H))`.",
        reference=("mlx.nn.GRU",),
        mlx_versions="<0.31.2",
        history="Fixed in 0.31.2 (ml-explore/mlx#3252)",
        measured=(Measurement("old_gap", 0.110238, "max |old MLX GRU - torch|, GRU(3, 5), (2, 7, 3), bias_hh U(-1, 1)"),),
    ),
)
