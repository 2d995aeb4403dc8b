"""``python -m benchmarks.hf_cost`` at its smallest (the zoo's tiny llama and gpt2, two steps, one
with LoRA), as a plain test so it never rots: each row's ratios are its own columns divided, the
check costs more than plain training (it trains both sides and more), and the pairs conform.
Skipped, with the reason, without the ``[hf]`` extra."""

import re

import pytest

pytest.importorskip("mlx_lm", reason="benchmarks.hf_cost needs the [hf] extra (pip install -e '.[hf]')")
pytest.importorskip("transformers", reason="benchmarks.hf_cost needs the [hf] extra (pip install -e '.[hf]')")
pytest.importorskip("peft", reason="benchmarks.hf_cost needs the [hf] extra (pip install -e '.[hf]')")

from benchmarks import hf_cost  # noqa: E402


def test_hf_cost_prints_the_ratio_per_architecture(capsys):
    assert hf_cost.main(["--only", "llama,gpt2", "--steps", "2", "--lora"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if re.match(r"^\| (llama|gpt2)", line)]
    assert [r[0].strip() for r in rows] == ["llama", "llama + LoRA", "gpt2", "gpt2 + LoRA"], out
    for arch, verdict, plain, local, x_local, check, x_check in (map(str.strip, r) for r in rows):
        assert verdict == "conforms", out
        plain, local, check = float(plain), float(local), float(check)
        assert 0 < plain < local and plain < check, out
        for shown, t in ((x_local, local), (x_check, check)):  # times printed to 1 ms, ratios to 0.1
            lo, hi = (t - 5e-4) / (plain + 5e-4), (t + 5e-4) / (plain - 5e-4)
            assert lo - 0.05 <= float(shown) <= hi + 0.05, (shown, t, plain, out)
    assert "load average" in out.splitlines()[0] and "(after)" in out.splitlines()[-1]


@pytest.mark.parametrize("argv, says", [(["--only", "bert"], "--only: unknown architecture 'bert'"),
                                        (["--steps", "0"], "--steps 0 / --ensemble 6")])
def test_hf_cost_bad_input_is_one_line_and_exit_2(argv, says, capsys):
    assert hf_cost.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_hf_cost_parts_add_up_to_the_check(capsys):
    """``--parts``: the check's row in the parts table is the main table's check, and its parts
    (each printed to 10 ms) add up to it."""
    assert hf_cost.main(["--only", "llama", "--steps", "2", "--parts"]) == 0
    out = capsys.readouterr().out
    main_row, parts_row = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| llama |")]
    head = next(line for line in out.splitlines() if line.startswith("| architecture | plain (s) | check (s)"))
    assert len(head.split("|")) == len(parts_row) + 2, (head, parts_row)
    check = float(main_row[5])
    assert float(parts_row[2]) == check, out
    cells = [float(c.split("(")[0]) for c in parts_row[4:]]
    assert len(cells) >= 6 and abs(sum(cells) - check) <= 0.005 * len(cells) + 0.002, (cells, check)
