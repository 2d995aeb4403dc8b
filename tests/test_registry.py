"""The registry of differences is complete, every entry is proven, and the porting guide is current.

Walks ``conformance.registry``: each entry names a test in ``tests/pitfalls/test_<section>.py``
that exists, is tied to it, re-measures every number it quotes and is not skipped on the CPU unless
the entry needs a GPU; every line it quotes is in the seed document; every object it points to
exists. Then checks that ``docs/PORTING.md`` is exactly what ``python -m conformance.guide``
renders now, and that the installed MLX behaves as every entry's ``mlx_versions`` say.
"""

from __future__ import annotations

import builtins
import difflib
import importlib
import inspect
import re
import string
from pathlib import Path

import pytest

from conformance import guide, registry
from conformance.registry import drift
from conformance.registry.probes import PROBES
from conformance.registry import API_NAMES, ENTRIES, SECTIONS

ROOT = Path(__file__).resolve().parent.parent
ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# The issue's list: each difference it names, and the entry that covers it.
REQUIRED_DIFFERENCES = {
    "lazy evaluation and mx.eval": "lazy-evaluation",
    "the compiled step and its state": "compiled-step-state",
    "Adam's bias correction": "adam-bias-correction",
    "BCE's with_logits default": "bce-with-logits-default",
    "probability vs logit thresholds": "seed-logit-threshold",
    "shape (N,1) vs (N,)": "shape-n1-vs-n",
    "silent float64 -> float32": "float64-silently-float32",
    "float64 only on MLX's CPU": "float64-gpu",
    "TF32 on MLX's CUDA backend": "tf32-cuda",
    "standard deviation conventions": "std-convention",
    "model.eval() and the absence of no_grad": "eval-mode-and-no-grad",
    "copying best weights for early stopping": "early-stopping-best-weights",
    "the missing ReduceLROnPlateau": "reduce-lr-on-plateau-missing",
    "random number streams": "random-streams",
    "integer targets": "integer-targets",
    "API names and arguments": "api-names",
    # issue 13: the differences people hit beyond the document
    "channels-last convolutions": "conv-channels-last",
    "ConvTranspose weight layout": "conv-transpose-weight-layout",
    "flatten order after a convolution": "flatten-after-conv-order",
    "what counts as a parameter": "module-parameter-registration",
    "compile with Dropout: the random state": "compile-dropout-random-state",
    "compile recompiles on a new shape": "compile-retrace-per-shape",
    "Embedding initialisation": "embedding-init",
    "MultiHeadAttention without biases": "mha-bias-default",
    "cross_entropy's weights": "cross-entropy-class-weights",
    "no ignore_index": "cross-entropy-ignore-index",
    "reduction 'none' by default": "loss-reduction-none-default",
    "kl_div_loss takes log targets": "kl-div-log-targets",
    "GroupNorm pytorch_compatible": "groupnorm-pytorch-compatible",
    "BatchNorm running variance before 0.32.1": "batchnorm-running-var",
    "TransformerEncoderLayer defaults": "transformer-encoder-layer-defaults",
    "LSTM batch-first and one bias": "lstm-layout-and-bias",
    "GRU biases": "gru-bias-layout",
    "GRU first step before 0.31.2": "gru-first-step-bias",
    "reduced precision on GPUs beyond matmuls": "reduced-precision-convolutions",
    "weight decay in Adam, AdamW, SGD": "adam-weight-decay",
    "clip_grad_norm returns": "clip-grad-norm-returns",
    "Python ints are int32": "python-int-int32",
    "argmax is uint32": "argmax-uint32",
    "softmax precise, half-precision accumulation": "softmax-precise",
    "no autocast or GradScaler": "no-autocast-gradscaler",
    "Adagrad eps": "adagrad-eps",
    "SGD dampening and the momentum buffer": "sgd-dampening-first-step",
    "Adamax bias correction": "adamax-bias-correction",
    "all_sum against averaging": "all-sum-not-average",
    "memory API and buffer cache": "memory-api-and-cache",
    "MLX float64 is float32-accurate for exp/sigmoid": "float64-cpu-float32-accurate",
}
# Entries that record a behaviour MLX changed, with the version it changed in (issue 13).
VERSIONED = {"batchnorm-running-var": "<0.32.1", "gru-first-step-bias": "<0.31.2", "tf32-cuda": ">=0.26.2",
             "compile-shapeless-linear": ">=0.31.2"}
# The seed's defects named by the issue and the design notes: each must be an entry marked seed_defect.
REQUIRED_SEED_DEFECTS = {
    "import mlx.optim": "seed-import-mlx-optim",
    "nn.BCELoss": "seed-bceloss-missing",
    "forward never called": "seed-forward-not-called",
    "Adam(model.parameters(), lr=...)": "seed-adam-signature",
    "zero_grad/backward/step": "seed-zero-grad-backward-step",
    "torch.no_grad in an MLX program": "seed-torch-no-grad",
    ".astype(int)": "seed-astype-int",
    ".numpy()": "seed-numpy-method",
    "thresholding logits at 0.5": "seed-logit-threshold",
    "the scaler fit before the split": "seed-scaler-before-split",
    "a 5-sample 80/20 split": "seed-five-samples-one-test",
}


def _pitfall_modules() -> dict[str, object]:
    """Every module of ``tests/pitfalls/`` that holds proofs, by repository path (imported under the
    name pytest gives it: ``tests/`` is on ``sys.path``, ``pitfalls`` a package)."""
    files = sorted((ROOT / registry.TEST_DIR).glob("test_*.py"))
    return {f.relative_to(ROOT).as_posix(): importlib.import_module(f"pitfalls.{f.stem}") for f in files}


PITFALLS = _pitfall_modules()


def _proof(entry):
    module = PITFALLS.get(entry.test_file)
    return getattr(module, entry.test_function, None) if module else None


def _device_available(device: str) -> bool:
    from mlx_reference.device import gpu_backend

    if device == "gpu":
        return gpu_backend() is not None
    import torch

    return gpu_backend() == "cuda" and torch.cuda.is_available()


def test_entries_are_well_formed():
    assert len(ENTRIES) >= 60, "issue 13 asks for at least 60 entries"
    ids = [e.id for e in ENTRIES]
    assert not set(ids) & set(SECTIONS), "an entry id equal to a section key would share its anchor in the guide"
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for e in ENTRIES:
        assert ID.match(e.id), f"{e.id}: ids are lower-case words joined by '-'"
        assert e.section in SECTIONS, f"{e.id}: section {e.section!r} is not one of {sorted(SECTIONS)}"
        assert e.kind in registry.KINDS, f"{e.id}: kind {e.kind!r} is not one of {sorted(registry.KINDS)}"
        assert e.device is None or e.device in registry.DEVICES, f"{e.id}: unknown device {e.device!r}"
        for field in ("title", "mlx", "torch", "naive_failure", "fix"):
            assert getattr(e, field).strip(), f"{e.id}: {field} is empty"
        assert e.test == f"tests/pitfalls/test_{e.section}.py::test_{e.id.replace('-', '_')}", f"{e.id}: test is {e.test!r}"


def test_every_section_has_entries_and_every_seed_snippet_a_defect():
    steps = guide.seed_steps()
    assert sorted(steps) == list(range(1, 9)), "the seed document's sections are no longer steps 1-8"
    assert sorted(s.doc_step for s in SECTIONS.values() if s.doc_step) == sorted(steps), (
        "every step of the document must be followed by one section of the guide")
    for key, section in SECTIONS.items():
        assert list(registry.by_section(key)), f"section {key} has no registry entry"
        if section.doc_step and steps[section.doc_step].code:
            assert [e for e in registry.by_section(key) if e.seed_defect], f"section {key}'s code has no registered defect"
        if not section.doc_step:
            assert section.intro, f"section {key} follows no step of the document: it needs an intro"


@pytest.mark.parametrize("topic, entry_id", sorted(REQUIRED_DIFFERENCES.items()))
def test_every_difference_of_the_issue_is_covered(topic, entry_id):
    assert registry.get(entry_id)


@pytest.mark.parametrize("entry_id, versions", sorted(VERSIONED.items()))
def test_changed_behaviour_is_versioned(entry_id, versions):
    assert registry.get(entry_id).mlx_versions == versions


@pytest.mark.parametrize("topic, entry_id", sorted(REQUIRED_SEED_DEFECTS.items()))
def test_every_known_seed_defect_is_covered(topic, entry_id):
    assert registry.get(entry_id).seed_defect, f"{entry_id} covers a defect of the seed's code ({topic})"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_has_a_demonstrating_test(entry):
    func = _proof(entry)
    assert func is not None and callable(func), f"{entry.id}: {entry.test} does not exist"
    assert getattr(func, "entry_id", None) == entry.id, (
        f"{entry.id}: {entry.test_function} is not decorated with @demonstrates({entry.id!r})")
    marks = {m.name: m for m in getattr(func, "pytestmark", [])}
    assert "skip" not in marks and "xfail" not in marks, f"{entry.id}: its proof is skipped or expected to fail"
    if entry.device is None:
        assert "skipif" not in marks, f"{entry.id}: runs everywhere, but its test may skip"
    else:
        assert "gpu" in marks, f"{entry.id}: needs a GPU, so its test must carry the gpu marker"
        skipif = marks.get("skipif")
        assert skipif is not None and skipif.kwargs.get("reason"), f"{entry.id}: needs a skipif with a stated reason"
        assert bool(skipif.args[0]) == (not _device_available(entry.device)), (
            f"{entry.id}: its test skips where the device exists, or runs where it does not")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_every_number_is_remeasured(entry):
    source = inspect.getsource(_proof(entry))
    fields = {f for _, f, _, _ in string.Formatter().parse(entry.naive_failure) if f}
    keys = {m.key for m in entry.measured}
    assert len(keys) == len(entry.measured), f"{entry.id}: duplicate measurement keys"
    assert fields == keys, f"{entry.id}: naive_failure quotes {sorted(fields)}, the entry measures {sorted(keys)}"
    for m in entry.measured:
        assert m.how.strip(), f"{entry.id}: {m.key} does not say how it was measured"
        assert f'measured("{entry.id}", "{m.key}"' in source, f"{entry.id}: {entry.test_function} never re-measures {m.key}"
    called = set(re.findall(r'measured\("([^"]+)", "([^"]+)"', source))
    assert called <= {(entry.id, k) for k in keys}, f"{entry.id}: the test measures keys of other entries: {called}"
    entry.naive_failure_text()


def test_seed_lines_are_in_the_document():
    steps = guide.seed_steps()
    for e in ENTRIES:
        for line in e.seed_lines:
            assert guide.locate(line, steps), f"{e.id}: the seed document has no line {line!r}"
        doc_step = SECTIONS[e.section].doc_step
        if e.seed_defect and doc_step and steps[doc_step].code:
            assert e.seed_lines, f"{e.id}: a defect of the seed's code must quote the lines it concerns"


def test_references_exist():
    for e in ENTRIES:
        for ref in e.reference:
            assert guide.resolve(ref) is not None, f"{e.id}: {ref} does not exist"
    for n, names in guide.EXCERPTS.items():
        for name in names:
            guide.resolve("mlx_reference." + name)
            guide.resolve("reference_torch." + name)


def test_every_pitfall_test_belongs_to_an_entry():
    expected = {f"{registry.TEST_DIR}/test_{key}.py" for key in SECTIONS}
    assert set(PITFALLS) == expected, (f"tests/pitfalls/ holds {sorted(set(PITFALLS) - expected)} beyond one module "
                                       f"per section, or lacks {sorted(expected - set(PITFALLS))}")
    tests = {(path, name) for path, module in PITFALLS.items()
             for name, obj in vars(module).items() if name.startswith("test_") and callable(obj)}
    registered = {(e.test_file, e.test_function) for e in ENTRIES}
    assert tests == registered, (f"tests without an entry: {sorted(tests - registered)}; "
                                 f"entries without a test: {sorted(registered - tests)}")


def test_the_ten_most_costly():
    ranked = registry.most_costly()
    assert [e.cost for e in ranked] == list(range(1, 11)), "cost ranks must be 1..10, each once"
    for e in ranked:
        fields = {f for _, f, _, _ in string.Formatter().parse(e.cost_summary) if f}
        assert e.cost_summary and fields, f"{e.id}: a ranked entry needs a cost_summary quoting its measured cost"
        assert fields <= set(e.values()), f"{e.id}: cost_summary quotes unmeasured {sorted(fields - set(e.values()))}"
        e.summary_text()
    assert all(not e.cost_summary for e in ENTRIES if e.cost is None)


def test_api_rows_are_checkable():
    for row in API_NAMES:
        assert row.torch and row.mlx and row.torch_check and row.mlx_check
        if row.naive:
            assert isinstance(getattr(builtins, row.naive_error or "", None), type), f"{row.naive}: {row.naive_error}"


def test_guide_is_current():
    rendered = guide.render()
    committed = guide.GUIDE.read_text(encoding="utf-8") if guide.GUIDE.exists() else ""
    if committed != rendered:
        diff = list(difflib.unified_diff(committed.splitlines(), rendered.splitlines(), "docs/PORTING.md (committed)",
                                         "rendered now", lineterm="", n=1))
        shown = "\n".join(diff[:60]) + (f"\n... {len(diff) - 60} more diff lines" if len(diff) > 60 else "")
        pytest.fail("docs/PORTING.md is not what the registry and the code render now; run "
                    f"python -m conformance.guide and commit the result:\n{shown}", pytrace=False)


def test_guide_check_command(tmp_path, capsys):
    out = tmp_path / "PORTING.md"
    assert guide.main(["--output", str(out)]) == 0
    assert guide.main(["--check", "--output", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "\nedited by hand\n", encoding="utf-8")
    assert guide.main(["--check", "--output", str(out)]) == 1
    assert "not current" in capsys.readouterr().err


def test_guide_covers_every_entry_and_step():
    text = guide.render()
    for e in ENTRIES:
        assert f'<a id="{e.id}"></a>' in text and e.test_function in text
    for key, section in SECTIONS.items():
        assert f'<a id="{key}"></a>' in text and section.title in text
    steps = guide.seed_steps()
    for n, step in steps.items():
        for line in step.code.splitlines():
            if line.strip():
                assert line in text, f"step {n}'s line {line!r} is missing from the guide"


def test_readme_section_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if guide.README_START not in readme:
        pytest.skip("README.md has no pitfalls section (python -m conformance.guide --readme prints it)")
    start = readme.index(guide.README_START)
    end = readme.index(guide.README_END, start) + len(guide.README_END)
    if readme[start:end] + "\n" != guide.readme_section():
        pytest.fail("README.md's pitfalls section is not what the registry renders: replace it with the output "
                    "of python -m conformance.guide --readme", pytrace=False)


def test_seed_copy_matches_shared():
    shared = ROOT.parent / "shared" / "seed" / guide.SEED.name
    if not shared.exists():
        pytest.skip("no ../shared/seed beside the repository")
    assert guide.SEED.read_bytes() == shared.read_bytes(), "docs/seed/ is not a verbatim copy of shared/seed/"


def test_version_ranges_are_well_formed():
    for e in ENTRIES:
        clauses = drift.parse(e.mlx_versions)
        if clauses:
            assert e.id in PROBES, f"{e.id}: applies to MLX {e.mlx_versions} only, so it needs a probe in probes.py"
            assert e.history, f"{e.id}: applies to MLX {e.mlx_versions} only: its history must say what changed when"
    assert set(PROBES) <= {e.id for e in ENTRIES}, f"probes without an entry: {sorted(set(PROBES) - {e.id for e in ENTRIES})}"
    abstaining = {i for i, (result, error) in drift.probe_results().items() if result is None and error is None}
    assert all(registry.get(i).device for i in abstaining), f"only GPU entries' probes may abstain: {sorted(abstaining)}"


def test_version_ranges_read_as_written():
    assert drift.applies("all", "0.1.0") and drift.applies(">=0.21.1", "0.21.1") and not drift.applies(">=0.21.1", "0.21.0")
    assert drift.applies("<0.32.1", "0.32.0") and not drift.applies("<0.32.1", "0.32.1")
    assert drift.applies(">=0.26.2,<0.40", "0.32.4") and not drift.applies(">=0.26.2,<0.40", "0.40.0")
    assert drift.version_tuple("0.33.0.dev20260101+abc") == (0, 33, 0)
    assert drift.describe(">=0.26.2,<0.40") == "0.26.2 and later, before 0.40" and drift.describe("all") == "every version"
    for bad in ("0.32", ">0.3", ">=0.1,>=0.2"):
        with pytest.raises(ValueError, match="MLX version range"):
            drift.parse(bad)


def test_the_installed_mlx_behaves_as_registered():
    """The drift check: every probe against the installed (in CI: the pinned) MLX."""
    version = drift.installed_version()
    findings = drift.check()
    drifted = [f.message(version) for f in findings if f.drifted]
    assert not drifted, (f"{len(drifted)} entries no longer behave as conformance/registry says on mlx {version}:\n"
                         + "\n".join(drifted))
    assert len(findings) == len(PROBES)


def test_drift_is_reported_outside_the_registered_range(capsys):
    """The same probes read at a version the ranges exclude: every entry bounded below must drift."""
    bounded = {e.id for e in ENTRIES if any(op == ">=" for op, _ in drift.parse(e.mlx_versions))}
    findings = {f.entry_id: f for f in drift.check(version="0.0.1")}
    for entry_id in bounded:
        assert findings[entry_id].drifted or findings[entry_id].reproduces is None, entry_id
    assert drift.main([]) == 0
    assert "DRIFT" not in capsys.readouterr().out
