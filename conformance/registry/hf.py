"""Registry entries: Hugging Face models, transformers 5.23 against mlx-lm 0.32.2.

Found by ``pair.check`` on the architecture matrix (``python -m conformance.pair.hf.matrix``,
docs/ARCHITECTURES.md). Each proof (``tests/pitfalls/test_hf.py``) reproduces the difference in
plain torch and plain MLX, so it runs without the ``[hf]`` extra; the same finding on the real
models is proven by ``tests/test_hf_findings.py`` (marked ``hf``), which each entry names.
"""

from __future__ import annotations

from .entry import Measurement, entry

HF = "tests/test_hf_findings.py"
ENTRIES = (
    entry(
        "hf-gelu-exact-vs-tanh", section="hf", seed_defect=False, kind="silent",
        title="Gemma, StarCoder2 and GPT-NeoX: mlx-lm and transformers use different GELUs",
        mlx=("mlx-lm's Gemma (`models/gemma.py`) and StarCoder2 (`models/starcoder2.py`) call the exact `nn.gelu`; "
             "its GPT-NeoX (`models/gpt_neox.py`) the tanh approximation `nn.gelu_approx`."),
        torch=("transformers' `GemmaConfig` and `Starcoder2Config` default to `gelu_pytorch_tanh` (Gemma even where "
               "a checkpoint says `hidden_act: \"gelu\"`: transformers rewrites that legacy value), `GPTNeoXConfig` "
               "to the exact `gelu`."),
        naive_failure=(
            "The two GELUs differ by up to {gelu_gap:.3g} on [-6, 6]; through a gated MLP of the zoo's sizes (hidden "
            "64, intermediate 128, weights of std 0.02) the output moves by {mlp_rel:.3g} of its largest value, "
            "several times float32's rounding: no error, and `pair.check` names `model.layers.0.mlp.down_proj` "
            "(Gemma), `model.layers.0.mlp.c_proj` (StarCoder2) or `gpt_neox.layers.0.mlp.dense_4h_to_h` (GPT-NeoX) "
            f"as the first layer that differs ({HF}::test_exact_gelu, ::test_tanh_gelu)."),
        fix=("Use the activation the checkpoint was trained with on both sides: in MLX `nn.gelu_approx` for "
             "`gelu_pytorch_tanh`, `nn.gelu` for `gelu`; check a port's MLP with `pair.check` before trusting it."),
        reference=("mlx.nn.gelu", "mlx.nn.gelu_approx", "torch.nn.functional.gelu"),
        measured=(
            Measurement("gelu_gap", 0.000473499, "max |MLX nn.gelu - torch gelu(approximate='tanh')| on 20 001 points of [-6, 6]"),
            Measurement("mlp_rel", 8.18735e-05, "max |exact-GELU MLP - tanh-GELU MLP| / max |tanh-GELU MLP|, (64, 64) N(0, 1) "
                                        "inputs, gate/up (128, 64) and down (64, 128) weights N(0, 0.02)"),
        ),
    ),
    entry(
        "hf-rope-parameters", section="hf", seed_defect=False, kind="silent",
        title="transformers 5 writes `rope_parameters`; mlx-lm reads only `rope_theta` and takes its default",
        mlx=("mlx-lm 0.32.2's Llama-family `ModelArgs` (llama, qwen2, qwen3, mistral, phi3, gemma, starcoder2, "
             "mixtral) read a top-level `rope_theta`, defaulting to the architecture's usual base (Qwen2: 1 000 000)."),
        torch=("transformers 5's `save_pretrained` writes `rope_parameters: {\"rope_theta\": ..., \"rope_type\": ...}` "
               "and no top-level `rope_theta`."),
        naive_failure=(
            "A checkpoint saved by transformers 5 loads in mlx-lm rotating at mlx-lm's default base. For the tiny "
            "Qwen2 (rope_theta 10 000 against the default 1 000 000) the rotated queries of 16 positions, head "
            "dimension 16, move by {rotated_gap:.3g} of their largest value, without an error; `pair.check` refuses "
            "the pair: `model.layers.0.self_attn.rope: rope frequencies differ` "
            f"({HF}::test_rope_parameters)."),
        fix=("Give mlx-lm `rope_theta` from `rope_parameters` (`conformance.pair.hf.zoo.bridge` does); a Llama's "
             "default happens to be right, a Qwen2's or StarCoder2's is not."),
        reference=("conformance.pair.hf.zoo.bridge", "mlx.core.fast.rope"),
        measured=(Measurement("rotated_gap", 1.35132, "max |mx.fast.rope(base 1e6) - transformers-style rotate_half(base "
                                                  "1e4)| / max |rotate_half|, (1, 4, 16, 16) N(0, 1) queries"),),
    ),
    entry(
        "hf-checkpoint-keys", section="hf", seed_defect=False, kind="error",
        title="GPT-2's `n_ctx` and GPT-NeoX's `rotary_emb_base`/`rotary_pct`: keys transformers 5 no longer writes",
        mlx=("mlx-lm 0.32.2's GPT-2 `ModelArgs` requires `n_ctx`; its GPT-NeoX `ModelArgs` requires `rotary_emb_base` "
             "and `rotary_pct`."),
        torch=("transformers 5.23's `GPT2Config` writes `n_positions` and no `n_ctx`; `GPTNeoXConfig` writes "
               "`rope_parameters` (`rope_theta`, `partial_rotary_factor`)."),
        naive_failure=(
            "`mlx_lm.utils.load_model` on a GPT-2 or GPT-NeoX checkpoint saved by transformers 5 stops with "
            "`TypeError: ModelArgs.__init__() missing 1 required positional argument: 'n_ctx'` (GPT-NeoX: "
            f"'rotary_emb_base' and 'rotary_pct') ({HF}::test_gpt2_n_ctx; the matrix's checkpoint column)."),
        fix=("Add the keys to `config.json` before loading: `n_ctx = n_positions`; `rotary_emb_base = "
             "rope_parameters[\"rope_theta\"]`, `rotary_pct = rope_parameters[\"partial_rotary_factor\"]` "
             "(`conformance.pair.hf.zoo.bridge`)."),
        reference=("conformance.pair.hf.zoo.bridge",),
    ),
    entry(
        "hf-neox-intermediate", section="hf", seed_defect=False, kind="error",
        title="mlx-lm's GPT-NeoX MLP is 4 x hidden whatever `intermediate_size` says",
        mlx="mlx-lm 0.32.2's GPT-NeoX builds `nn.Linear(hidden, 4 * hidden)` and back.",
        torch="transformers' `GPTNeoXMLP` uses the config's `intermediate_size`.",
        naive_failure=(
            "A GPT-NeoX with another ratio cannot be loaded into mlx-lm's (the shapes differ); `pair.check` refuses "
            "the pair naming `gpt_neox.layers.0.mlp.dense_h_to_4h` and both shapes "
            f"({HF}::test_neox_intermediate)."),
        fix="Only GPT-NeoX checkpoints with intermediate_size = 4 x hidden_size port to mlx-lm 0.32.2 as they are.",
        reference=("mlx.nn.Linear",),
    ),
    entry(
        "hf-padding-idx", section="hf", seed_defect=False, kind="silent",
        title="transformers' embeddings have `padding_idx = pad_token_id`; MLX's `nn.Embedding` has none",
        mlx="`nn.Embedding(num, dims)`: every row is trained.",
        torch=("transformers builds `nn.Embedding(vocab, hidden, padding_idx=config.pad_token_id)`: that row gets no "
               "gradient and never moves."),
        naive_failure=(
            "Where the pad id reaches the loss (a left-padded or packed batch without a mask, or a pad label not "
            "ignored) MLX trains the pad row (gradient norm {pad_row_grad:.3g} in the proof's batch) and torch does "
            "not; `pair.check` refuses the pair naming `model.embed_tokens (Embedding): padding_idx` "
            f"({HF}::test_padding_idx)."),
        fix=("Pad on the right and ignore the pad labels (`pair.hf.causal_lm(pad_token_id=...)`: the pad row's "
             "gradient is then 0 on both sides), or stop the row's gradient in MLX."),
        reference=("mlx.nn.Embedding", "torch.nn.Embedding"),
        measured=(Measurement("pad_row_grad", 8.06862, "L2 norm of MLX's gradient of row 0 of a (16, 8) embedding, ids "
                                                   "[[5, 0, 7, 0]], squared error against N(0, 1) targets"),),
    ),
)
