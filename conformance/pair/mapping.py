"""Which torch module corresponds to which MLX module, and every tensor's way across.

``Mapping.build(torch_model, mlx_model)`` walks torch's modules top-down and pairs each with the
MLX module at the same path (``names`` renames paths that differ: ``{"torch.path": "mlx.path"}``).
A pair with a rule (``conformance.pair.layouts``; ``rules={"path": rule}`` overrides one, e.g.
``after_flatten``) takes its whole subtree; a torch module that owns parameters and has no rule is
an error, and so is any tensor on either side that no rule covers: the message names it and how to
fix it. Tensors are named as each framework names them (``fc1.weight``; MLX ``rnn.Wx``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .layouts import Rule, find


class MappingError(ValueError):
    """The two models cannot be matched: one line naming the module or tensor and what to do."""


@dataclass
class Pair:
    torch_path: str
    mlx_path: str
    rule: Rule
    torch_module: object
    mlx_module: object


@dataclass
class Mapping:
    pairs: list[Pair] = field(default_factory=list)
    torch_names: list[str] = field(default_factory=list)  # every mapped torch tensor (parameters and state buffers)
    buffers: list[str] = field(default_factory=list)  # the torch buffers among them
    tied: dict[str, str] = field(default_factory=dict)  # a torch parameter that *is* another (name -> first name)

    @classmethod
    def build(cls, torch_model, mlx_model, names: dict[str, str] | None = None,
              rules: dict[str, Rule] | None = None) -> "Mapping":
        names, rules = dict(names or {}), dict(rules or {})
        out = cls()
        claimed: list[str] = []
        persistent = set(torch_model.state_dict())  # buffers outside it (rotary inv_freq) are constants, not state
        seen: dict[int, str] = {}
        for path, tmod in torch_model.named_modules():
            if any(c == "" or path == c or path.startswith(c + ".") for c in claimed):  # "": the root claimed all
                continue
            mpath = names.get(path, path)
            mmod = _mlx_module(mlx_model, mpath)
            rule = rules.get(path) or (find(tmod, mmod) if mmod is not None else None)
            prefix = f"{path}." if path else ""
            owns = [(n, t) for n, t in list(tmod.named_parameters(recurse=False)) + list(tmod.named_buffers(recurse=False))
                    if prefix + n in persistent and id(t) not in seen]  # a tied parameter was mapped where first seen
            if rule is None:
                if owns:
                    where = f"MLX has no module at {mpath!r}" if mmod is None else \
                        f"no layout rule for torch {type(tmod).__name__} -> MLX {type(mmod).__name__}"
                    raise MappingError(f"torch module {path or '(root)'!r} owns {', '.join(n for n, _ in owns)}: {where}; "
                                       "pass names={torch path: mlx path}, rules={path: rule}, or register a rule "
                                       "(conformance.pair.layouts.register)")
                continue
            problems = rule.problems(tmod, mmod)
            if problems:
                raise MappingError(f"{path or '(root)'} ({rule.name}): " + "; ".join(problems))
            out.pairs.append(Pair(path, mpath, rule, tmod, mmod))
            claimed.append(path)
            for n, t in tmod.named_parameters():
                if id(t) in seen:
                    out.tied[prefix + n] = seen[id(t)]
                    continue
                seen[id(t)] = prefix + n
                out.torch_names.append(prefix + n)
            for n, _ in tmod.named_buffers():
                local = n.rsplit(".", 1)[-1]
                if prefix + n not in persistent:
                    continue
                if local in rule.buffers:
                    out.torch_names.append(prefix + n)
                    out.buffers.append(prefix + n)
                elif local not in rule.ignored:
                    raise MappingError(f"torch buffer {prefix + n!r} ({rule.name}) has no MLX counterpart in the rule")
        out._check_coverage(torch_model, mlx_model)
        return out

    def _check_coverage(self, torch_model, mlx_model) -> None:
        from mlx.utils import tree_flatten

        covered = set(self.torch_names)
        missing = [n for n, _ in torch_model.named_parameters() if n not in covered]
        if missing:
            raise MappingError(f"torch parameter(s) {missing[:5]} are not mapped; give their modules a rule")
        mapped_mlx = set(self.torch_to_mlx({n: np.zeros(s) for n, s in self.torch_shapes().items()}))
        extra = [n for n, _ in tree_flatten(mlx_model.parameters()) if n not in mapped_mlx]
        if extra:
            raise MappingError(f"MLX parameter(s) {extra[:5]} have no torch counterpart: a bias the torch model lacks, "
                               "or a layer it does not have; build both alike (e.g. bias=False) or map it")

    def torch_shapes(self) -> dict[str, tuple]:
        shapes = {}
        for p in self.pairs:
            prefix = f"{p.torch_path}." if p.torch_path else ""
            for n, t in list(p.torch_module.named_parameters()) + list(p.torch_module.named_buffers()):
                if prefix + n in self.torch_names:
                    shapes[prefix + n] = tuple(t.shape)
        return shapes

    def torch_to_mlx(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Tensors under torch's names and layouts -> MLX's (those of ``tensors`` the rules cover)."""
        out = {}
        for p in self.pairs:
            prefix = f"{p.torch_path}." if p.torch_path else ""
            local = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) or not prefix}
            mprefix = f"{p.mlx_path}." if p.mlx_path else ""
            out.update({mprefix + k: v for k, v in p.rule.to_mlx(local, p.torch_module).items()})
        return out

    def mlx_to_torch(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Tensors under MLX's names and layouts -> torch's (raises ``NotInvertible`` where MLX merges)."""
        out = {}
        for p in self.pairs:
            mprefix = f"{p.mlx_path}." if p.mlx_path else ""
            local = {k[len(mprefix):]: v for k, v in tensors.items() if k.startswith(mprefix) or not mprefix}
            prefix = f"{p.torch_path}." if p.torch_path else ""
            out.update({prefix + k: v for k, v in p.rule.to_torch(local, p.torch_module).items()})
        return out


def _mlx_module(model, path: str):
    """The MLX module at a dotted path (attributes, dict keys, list indices), or None."""
    node = model
    for part in path.split(".") if path else []:
        if isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                return None
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            node = getattr(node, part, None)
        if node is None:
            return None
    import mlx.nn as nn

    return node if isinstance(node, nn.Module) else None
