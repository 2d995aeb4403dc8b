"""docs/ARCHITECTURES.md's matrix is current: every architecture is checked again and its verdicts
(forward, training, first difference, checkpoint path, guide entry) must be the table's; the timings
are not compared. At least eight architectures, one of them a mixture of experts, conform forward
and in training. Needs the ``[hf]`` extra; marked ``hf`` (about three minutes on two cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mlx_lm", reason="needs the [hf] extra (pip install -e '.[hf]')")
pytest.importorskip("transformers", reason="needs the [hf] extra (pip install -e '.[hf]')")

from conformance.pair.hf import matrix, zoo  # noqa: E402

pytestmark = pytest.mark.hf
DOC = Path(__file__).resolve().parent.parent / "docs" / "ARCHITECTURES.md"


def _documented() -> dict[str, list[str]]:
    body = DOC.read_text().split(matrix.BEGIN, 1)[1].split(matrix.END, 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| architecture")]
    out = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").replace("\\|", "\x00").split("|")]
        out[cells[0]] = [c.replace("\x00", "|") for c in cells[1:6]]
    return out


def test_matrix_names_every_architecture_and_eight_conform():
    rows = _documented()
    assert set(rows) == set(zoo.ARCHITECTURES), sorted(rows)
    conform = [a for a, r in rows.items() if r[0] == "conforms" and r[1] == "conforms"]
    assert len(conform) >= 8 and "mixtral" in conform, conform
    assert all(r[4] != "-" for a, r in rows.items() if a not in conform), "a difference without its guide entry"


@pytest.mark.parametrize("arch", list(zoo.ARCHITECTURES))
def test_matrix_row_is_current(arch):
    r = matrix.run_one(arch)
    got = [r["forward"], r["training"], r["first"] or "-", r["checkpoint"], r["guide"] or "-"]
    assert got == _documented()[arch], f"{arch}: now {got}, documented {_documented()[arch]}: rerun python -m " \
                                       "conformance.pair.hf.matrix"


def test_guide_links_every_finding_of_a_row():
    """A row whose forward differs for one reason and whose checkpoint path for another links both."""
    assert matrix.findings("2 layers / model.layers.0.mlp.c_proj output",
                           "model.layers.0.self_attn.rope: rope frequencies differ: ...") == \
        "[exact-gelu](#exact-gelu), [rope-parameters](#rope-parameters)"
    assert matrix.findings("2 layers / gpt_neox.layers.0.mlp.dense_4h_to_h output",
                           "mlx-lm's load_model fails: TypeError: ... 'rotary_emb_base' and 'rotary_pct'") == \
        "[tanh-gelu](#tanh-gelu), [gpt2-n_ctx](#gpt2-n_ctx)"
    assert matrix.findings("", "conforms") == ""
