"""The porting guide, rendered from the registry and from the code: ``python -m conformance.guide``.

``docs/PORTING.md`` is written from three sources, none copied by hand:

- the seed document (``docs/seed/000_1d5c86cd3c9c731f.txt``, a verbatim copy of
  ``shared/seed/``): each step's heading and code;
- ``conformance.registry``: what is wrong with each step's code and every difference that applies,
  by section: one per step of training, one per family of layers;
- ``mlx_reference`` and ``reference_torch``: the idiomatic code, extracted with ``inspect`` at
  render time.

``--check`` renders into memory and exits 1 when the committed file differs (``tests/test_registry.py``
does the same), so the guide cannot drift from the code.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .registry import ENTRIES, SECTIONS, Entry
from .registry.drift import describe

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "docs" / "seed" / "000_1d5c86cd3c9c731f.txt"
GUIDE = ROOT / "docs" / "PORTING.md"

# --------------------------------------------------------------------------------------------
# The seed document


@dataclass(frozen=True)
class SeedStep:
    """One numbered section of the seed document: its heading, its code and where that code starts."""

    number: int
    heading: str
    code: str  # the section's code blocks, joined ("" for step 8, which has none)
    line_numbers: tuple[int, ...]  # the seed file's (1-based) line number of each line of ``code``
    text: str  # the whole section, prose and code

    def line_number(self, text: str) -> int:
        """The seed file's line number of the code line that reads ``text`` (stripped)."""
        for no, line in zip(self.line_numbers, self.code.splitlines()):
            if line.strip() == text.strip():
                return no
        raise KeyError(f"step {self.number} of the seed document has no line {text!r}")


_HEADING = re.compile(r"^### \*\*(\d+)\.\s*(.+?)\*\*\s*$")


def seed_steps(path: Path = SEED) -> dict[int, SeedStep]:
    """The seed document's numbered sections, by number."""
    sections: dict[int, dict] = {}
    current = None
    in_code = False
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        heading = None if in_code else _HEADING.match(line)
        if heading:
            current = sections.setdefault(int(heading.group(1)),
                                          {"heading": heading.group(2), "code": [], "numbers": [], "text": []})
        if current is None:
            continue
        current["text"].append(line)
        if line.startswith("```"):
            in_code = not in_code
        elif in_code:
            current["code"].append(line)
            current["numbers"].append(no)
    return {n: SeedStep(n, s["heading"], "\n".join(s["code"]) + ("\n" if s["code"] else ""), tuple(s["numbers"]),
                        "\n".join(s["text"]) + "\n")
            for n, s in sorted(sections.items())}


# --------------------------------------------------------------------------------------------
# Code excerpts

# What the guide shows of each package for each section that follows a step of the document:
# objects of mlx_reference / reference_torch (the mirror image, so one list serves both).
EXCERPTS: dict[str, tuple[str, ...]] = {
    "data": ("data.to_array", "data.StandardScaler"),
    "model": ("model.SimpleNN",),
    "loss": ("loss.bce_with_logits", "loss.bce", "loss.loss_fn"),
    "optimizer": ("optim.make_adam", "optim.set_learning_rate"),
    "training": ("train.make_train_step", "train.train_epoch"),
    "validation": ("validate.evaluate_loss", "validate.EarlyStopping"),
    "evaluation": ("metrics.predict", "metrics.classification_metrics"),
    "devices": ("pipeline.run_pipeline",),
}
# Where the MLX side has no counterpart in torch (torch has it built in), shown on the MLX side only.
MLX_ONLY: dict[str, tuple[str, ...]] = {"optimizer": ("optim.ReduceLROnPlateau",)}
NEUTRAL: dict[str, tuple[str, ...]] = {"data": ("conformance.data.split_indices",),
                                       "devices": ("conformance.weights.init_weights",)}


def resolve(dotted: str):
    """The object named ``package.module.attr[.attr]`` (imported)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {dotted!r}")


def source(dotted: str) -> str:
    return textwrap.dedent(inspect.getsource(resolve(dotted))).rstrip() + "\n"


def signature(dotted: str) -> str:
    """A function's ``def`` lines and the first line of its docstring: for neutral helpers whose body
    is not the lesson."""
    obj = resolve(dotted)
    lines, _ = inspect.getsourcelines(obj)
    src = textwrap.dedent("".join(lines))
    node = ast.parse(src).body[0]
    header = src.splitlines()[: node.body[0].lineno - 1]
    doc = inspect.getdoc(obj)
    summary = f'    """{doc.splitlines()[0]} ..."""' if doc else "    ..."
    return "\n".join(header + [summary]) + "\n"


def _module_file(dotted: str) -> str | None:
    """The repository path of the file defining ``dotted`` (None for objects from other packages)."""
    obj = inspect.unwrap(resolve(dotted))
    try:
        path = Path(obj.__file__ if inspect.ismodule(obj) else inspect.getsourcefile(obj)).resolve()
    except TypeError:  # compiled (MLX's core functions) or not a function at all (mx.random.state)
        return None
    if not path.is_relative_to(ROOT) or "site-packages" in path.parts:  # e.g. torch in a .venv inside the repo
        return None
    return path.relative_to(ROOT).as_posix()


def _link(dotted: str) -> str:
    """A markdown link (from docs/) to an object's source; objects of other packages are named
    with where they come from."""
    path = _module_file(dotted)
    if path is None:
        obj = resolve(dotted)
        where = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"
        return f"`{dotted}`" if "None" in where or where == dotted else f"`{dotted}` (= `{where}`)"
    return f"[`{dotted}`](../{path})"


# --------------------------------------------------------------------------------------------
# Rendering


def locate(text: str, steps: dict[int, SeedStep]) -> list[int]:
    """Every line number of the seed file whose code line reads ``text`` (stripped)."""
    return [no for step in steps.values() for no, line in zip(step.line_numbers, step.code.splitlines())
            if line.strip() == text.strip()]


def _test_link(entry: Entry) -> str:
    return f"[`{entry.test_function}`](../{entry.test_file})"


def _code(text: str, lang: str = "python") -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


def _entry_block(e: Entry, steps: dict[int, SeedStep]) -> str:
    what = registry.KINDS[e.kind].split(":")[0]
    where = f"; {registry.DEVICES[e.device]}" if e.device else ""
    out = [f'<a id="{e.id}"></a>\n#### {e.title}\n', f"`{e.id}` · *{e.kind}*: {what}{where}\n"]
    if e.seed_lines:
        quoted = "; ".join(f"line {', '.join(map(str, locate(t, steps)))} `{t.strip()}`" for t in e.seed_lines)
        out.append(f"- **In the document**: {quoted}")
    out.append(f"- **MLX**: {e.mlx}")
    out.append(f"- **PyTorch**: {e.torch}")
    out.append(f"- **Ported naively**: {e.naive_failure_text()}")
    out.append(f"- **Fix**: {e.fix}")
    versions = f"- **MLX versions**: {describe(e.mlx_versions)}"
    history = f". {e.history}" + ("" if e.history.endswith(".") else ".") if e.history else ""
    out.append(versions + history)
    if e.reference:
        out.append("- **Code**: " + ", ".join(_link(r) for r in e.reference))
    proof = f"- **Proof**: {_test_link(e)}"
    if e.device:
        proof += f" (skipped where it cannot run: it {registry.DEVICES[e.device]})"
    out.append(proof)
    for m in e.measured:
        bound = f"timing, checked within a factor {registry.TIMING_SPREAD:g}" if m.timing else \
            (f"re-measured to {100 * m.rel:g}%" if m.rel else "re-measured exactly")
        out.append(f"  - `{m.key}` = {m.value:.6g}: {m.how} ({bound})")
    return "\n".join(out) + "\n"


def _listing(step: SeedStep, steps: dict[int, SeedStep]) -> str:
    """The step's code with the seed file's line numbers; ``!`` marks a line a registry entry quotes."""
    quoted = {n for e in ENTRIES for t in e.seed_lines for n in locate(t, steps)}
    out = []
    for no, line in zip(step.line_numbers, step.code.splitlines()):
        out.append(f"{no:>3} {'!' if no in quoted else ' '} {line}".rstrip())
    return "\n".join(out)


def _pairs(key: str) -> list[str]:
    out = []
    for name in EXCERPTS.get(key, ()):
        out.append(f"#### `{name}`\n")
        out.append(f"MLX, {_link('mlx_reference.' + name)}:\n")
        out.append(_code(source("mlx_reference." + name)))
        out.append(f"PyTorch, {_link('reference_torch.' + name)}:\n")
        out.append(_code(source("reference_torch." + name)))
    for name in MLX_ONLY.get(key, ()):
        torch_obj = resolve("reference_torch." + name)
        out.append(f"#### `{name}`\n")
        out.append(f"MLX has none, so {_link('mlx_reference.' + name)} follows PyTorch's rules:\n")
        out.append(_code(source("mlx_reference." + name)))
        module = "reference_torch." + name.rsplit(".", 1)[0]
        out.append(f"PyTorch has it built in: `{torch_obj.__module__}.{torch_obj.__qualname__}` "
                   f"(imported by {_link(module)}).\n")
    for name in NEUTRAL.get(key, ()):
        out.append(f"#### `{name}` (framework-neutral, used by both)\n")
        out.append(f"{_link(name)}:\n")
        out.append(_code(signature(name)))
    return out


INTRO = """\
<!-- Rendered by `python -m conformance.guide` from conformance/registry/, docs/seed/ and the code of
     mlx_reference/ and reference_torch/. Do not edit by hand: change those and re-render. -->
# Porting PyTorch training code to MLX

The seed document ([`docs/seed/000_1d5c86cd3c9c731f.txt`](seed/000_1d5c86cd3c9c731f.txt), in Traditional
Chinese) teaches the full flow of training a binary classifier "with MLX" in eight steps. Its code is PyTorch
written under MLX names, and it does not run. This guide has two parts. The first follows training step by
step (the document's eight, then distributed training): the document's snippet (with the seed file's line
numbers; `!` marks a line discussed below), what is wrong with it, the idiomatic MLX from
[`mlx_reference/`](../mlx_reference), the PyTorch it replaces from [`reference_torch/`](../reference_torch)
(the same file, function and argument names, so the two can be diffed), and every difference between the
frameworks that the step meets. The second takes the layers a port meets family by family: what changes when
torch's weights, defaults and layouts move to MLX.

Nothing here is copied by hand. The {n_entries} entries ({n_defects} of them defects of the document's code)
are data in [`conformance/registry/`](../conformance/registry); the code is read from the packages when the
guide is rendered; each entry names the test in [`tests/pitfalls/`](../tests/pitfalls) that shows the naive
port failing and the fix agreeing with PyTorch, and that measures again every number quoted here.
[`tests/test_registry.py`](../tests/test_registry.py) fails when an entry has no such test or when this file
differs from what `python -m conformance.guide` renders now.

Numbers were measured with mlx {mlx_version} and torch {torch_version} on a 2-core Linux CPU unless an entry
says otherwise. Timings depend on the machine (their tests accept a factor {spread:g}); every other number is
re-measured to the precision stated beside it. Each entry says which MLX versions it applies to;
`python -m conformance.registry.drift` checks {n_probes} of them against the MLX you have installed (MLX alone
suffices) and names those that no longer behave as written, and the test suite runs that check against the
pinned MLX.
"""

PARTS = {"step": "Part 1: training, step by step", "layer": "Part 2: layers, family by family"}


def _section_heading(number: int, key: str, steps: dict[int, SeedStep]) -> str:
    section = SECTIONS[key]
    doc = f" (the document's step {section.doc_step}: {steps[section.doc_step].heading})" if section.doc_step else ""
    return f'<a id="{key}"></a>\n## {number}. {section.title}{doc}\n'


def _section(key: str, steps: dict[int, SeedStep]) -> list[str]:
    section = SECTIONS[key]
    step = steps[section.doc_step] if section.doc_step else None
    out: list[str] = []
    if step and step.code:
        out.append("### The document's code\n")
        out.append(_code(_listing(step, steps), "text"))
    elif step:
        out.append("The document's summary has no code. Here the steps come together: the whole flow in both "
                   "frameworks, where it runs, in what precision, with what memory, and the names that differ.\n")
    if section.intro:
        out.append(section.intro + "\n")
    defects = [e for e in registry.by_section(key) if e.seed_defect]
    if defects:
        out.append("### What is wrong with it\n")
        out.extend(_entry_block(e, steps) for e in defects)
    pairs = _pairs(key)
    if pairs:
        out.append("### Idiomatic MLX, and the PyTorch it replaces\n")
        out.extend(pairs)
    diffs = [e for e in registry.by_section(key) if not e.seed_defect]
    if diffs:
        out.append("### Differences that apply\n" if section.part == "step" else "### Differences\n")
        out.extend(_entry_block(e, steps) for e in diffs)
    return out


def render() -> str:
    from .registry.probes import PROBES

    steps = seed_steps()
    out: list[str] = [INTRO.format(
        n_entries=len(ENTRIES), n_defects=sum(e.seed_defect for e in ENTRIES), spread=registry.TIMING_SPREAD,
        mlx_version=registry.MEASURED_WITH["mlx"], torch_version=registry.MEASURED_WITH["torch"],
        n_probes=len(PROBES))]

    out.append("## The ten most costly pitfalls\n")
    out.append("| # | pitfall | section | what it costs |\n|---|---|---|---|")
    for e in registry.most_costly():
        out.append(f"| {e.cost} | [{e.title}](#{e.id}) | [{SECTIONS[e.section].title}](#{e.section}) | "
                   f"{e.summary_text()} |")
    out.append("")

    numbers = {key: n for n, key in enumerate(SECTIONS, start=1)}
    out.append("## Contents\n")
    parts = {part: title for part, title in PARTS.items() if any(s.part == part for s in SECTIONS.values())}
    for part, title in parts.items():
        out.append(f"**{title}**\n")
        for key, section in SECTIONS.items():
            if section.part == part:
                ids = ", ".join(f"[`{e.id}`](#{e.id})" for e in registry.by_section(key))
                out.append(f"{numbers[key]}. [{section.title}](#{key}): {ids}")
        out.append("")
    out.append(f"{len(SECTIONS) + 1}. [API names](#api-names-table)\n")

    for part, title in parts.items():
        out.append(f'<a id="part-{part}"></a>\n## {title}\n')
        if part == "layer":
            out.append("The proofs move torch's weights into MLX with "
                       "[`tests/pitfalls/layouts.py`](../tests/pitfalls/layouts.py): one small function per kind of "
                       "layer, the layout rules a port needs.\n")
        for key, section in SECTIONS.items():
            if section.part == part:
                out.append(_section_heading(numbers[key], key, steps))
                out.extend(_section(key, steps))

    out.append(f'<a id="api-names-table"></a>\n## {len(SECTIONS) + 1}. API names\n')
    out.append(f"Every row is checked by {_test_link(registry.get('api-names'))} against the installed "
               "versions: both spellings work, and the PyTorch spelling written against MLX raises the error "
               "shown.\n")
    out.append("| PyTorch | MLX | note | the PyTorch spelling in MLX |\n|---|---|---|---|")
    for row in registry.API_NAMES:
        naive = f"`{row.naive}`: {row.naive_error}" if row.naive else "runs (see the note)" if row.note else "runs"
        out.append(f"| `{row.torch}` | `{row.mlx}` | {row.note} | {naive} |")
    return "\n".join(out).rstrip() + "\n"


README_START, README_END = "<!-- pitfalls:start -->", "<!-- pitfalls:end -->"


def readme_section() -> str:
    """The README's section on the guide: a link and the ten most costly pitfalls, from the registry
    (between ``README_START`` and ``README_END``, which ``tests/test_registry.py`` keeps current)."""
    steps = sum(s.part == "step" for s in SECTIONS.values())
    layers = sum(s.part == "layer" for s in SECTIONS.values())
    intro = ("[`docs/PORTING.md`](docs/PORTING.md) follows training step by step (the document's eight steps, "
             "then distributed training) and then the layers family by family: each of the document's snippets, "
             "what is wrong with it, the idiomatic MLX, the PyTorch it replaces, and every difference between the "
             f"two that a port meets ({len(ENTRIES)} entries in {steps} steps and {layers} families of layers, each "
             "proven by a test in `tests/pitfalls/` that shows the naive port failing and the fix agreeing with "
             "PyTorch, each with the MLX versions it applies to). It is rendered from `conformance/registry/` and "
             "the code (`python -m conformance.guide`), so it cannot drift; `python -m conformance.registry.drift` "
             "says which entries apply to the MLX you have. The ten most costly pitfalls, with what they cost:")
    out = [README_START, "## Porting guide\n", textwrap.fill(intro, width=100, break_on_hyphens=False) + "\n"]
    for e in registry.most_costly():
        out.append(f"{e.cost}. [{e.title}](docs/PORTING.md#{e.id}): {e.summary_text()}.")
    out.append(README_END)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.guide", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/PORTING.md differs from a fresh render")
    parser.add_argument("--output", default=str(GUIDE), help="where to write (default docs/PORTING.md)")
    parser.add_argument("--readme", action="store_true", help="print the README's section on the guide and exit")
    args = parser.parse_args(argv)
    if args.readme:
        print(readme_section(), end="")
        return 0
    text = render()
    path = Path(args.output)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is not current: run python -m conformance.guide", file=sys.stderr)
            return 1
        print(f"{path} is current")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(ENTRIES)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
