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

from .errors import PairError
from .layouts import Rule, find


class MappingError(PairError):
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
    stateless: list[Pair] = field(default_factory=list)  # parameterless layers at the same path (rule None)

    @property
    def compared(self) -> list[Pair]:
        """Every layer whose output the per-layer comparison judges: the rules' and the parameterless ones."""
        return self.pairs + self.stateless

    @classmethod
    def build(cls, torch_model, mlx_model, names: dict[str, str] | None = None,
              rules: dict[str, Rule] | None = None) -> "Mapping":
        names, rules = ({} if names is None else names), ({} if rules is None else rules)
        _check_keys(torch_model, mlx_model, names, rules)
        out = cls()
        claimed: list[str] = []
        for path, tmod in torch_model.named_modules():
            if any(c == "" or path == c or path.startswith(c + ".") for c in claimed):  # "": the root claimed all
                continue
            mpath = names.get(path, path)
            mmod = _mlx_module(mlx_model, mpath)
            rule = rules.get(path) or (find(tmod, mmod) if mmod is not None else None)
            owns = list(tmod.named_parameters(recurse=False)) + list(tmod.named_buffers(recurse=False))
            if rule is None:
                if path and mmod is not None and _parameterless(tmod, mmod):
                    out.stateless.append(Pair(path, mpath, None, tmod, mmod))
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
            prefix = f"{path}." if path else ""
            for n, _ in tmod.named_parameters():
                out.torch_names.append(prefix + n)
            for n, _ in tmod.named_buffers():
                local = n.rsplit(".", 1)[-1]
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
        mine = dict(tree_flatten(mlx_model.parameters()))
        extra = [n for n in mine if n not in mapped_mlx]
        if extra:
            raise MappingError(f"MLX parameter(s) {extra[:5]} have no torch counterpart: a bias the torch model lacks, "
                               "or a layer it does not have; build both alike (e.g. bias=False) or map it")
        self._check_shapes(torch_model, mine)

    def _check_shapes(self, torch_model, mine: dict) -> None:
        """Each torch tensor, in MLX's layout, must have the MLX tensor's shape, and be trainable on
        both sides or on neither: nothing is resized or unfrozen to fit."""
        from mlx.utils import tree_flatten

        state = dict(torch_model.state_dict(keep_vars=True))
        for p in self.pairs:
            prefix, mprefix = (f"{p.torch_path}." if p.torch_path else ""), (f"{p.mlx_path}." if p.mlx_path else "")
            local = {k[len(prefix):]: state[k] for k in self.torch_names if k.startswith(prefix) or not prefix}
            try:
                moved = p.rule.to_mlx({k: np.zeros(tuple(v.shape), np.float32) for k, v in local.items()}, p.torch_module)
            except ValueError as e:  # a reshape the rule cannot do: the sizes differ
                raise MappingError(f"{p.torch_path or '(root)'} ({p.rule.name}): the torch tensors' shapes do not fit "
                                   f"the rule ({e}); build both models with the same sizes") from None
            trainable = {k for k, _ in tree_flatten(p.mlx_module.trainable_parameters())}
            held = {k for k, _ in tree_flatten(p.mlx_module.parameters())}
            back = {m: t for t, (m, _, _) in p.rule.names.items()}
            for k, v in moved.items():
                name = mprefix + k
                if name in mine and tuple(mine[name].shape) != tuple(v.shape):
                    raise MappingError(f"{p.torch_path or '(root)'} ({p.rule.name}): torch's {prefix + back.get(k, k)} "
                                       f"is {tuple(v.shape)} in MLX's layout but the MLX model's {name} is "
                                       f"{tuple(mine[name].shape)}: build both models with the same sizes")
                t_name = prefix + back[k] if k in back else None
                if t_name in state and t_name not in self.buffers and k in held:
                    if bool(state[t_name].requires_grad) != (k in trainable):
                        tside = "trainable" if state[t_name].requires_grad else "frozen (requires_grad=False)"
                        mside = "trainable" if k in trainable else "frozen"
                        raise MappingError(f"{t_name}: torch's is {tside}, MLX's {name} is {mside}: freeze or "
                                           "unfreeze it on both sides")

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


def _parameterless(tmod, mmod) -> bool:
    """A layer with no tensors on either side (an activation, a pooling, a flatten, dropout at 0)."""
    from mlx.utils import tree_flatten

    if next(iter(tmod.parameters()), None) is not None or next(iter(tmod.buffers()), None) is not None:
        return False
    return not tree_flatten(mmod.parameters())


def _check_keys(torch_model, mlx_model, names: dict, rules: dict) -> None:
    """Every ``names``/``rules`` key must be a torch module's path, every ``names`` value an MLX module's."""
    paths = [p for p, _ in torch_model.named_modules()]
    known = set(paths)
    for what, given in (("names", names), ("rules", rules)):
        if not isinstance(given, dict):
            raise PairError(f"{what}= must be a dict keyed by torch module paths, got {type(given).__name__}")
        for key in given:
            if key not in known:
                near = [p for p in paths if p and (key in p or p in str(key))][:3]
                raise PairError(f"{what}={{{key!r}: ...}}: the torch model has no module at {key!r}"
                                + (f" (did you mean {', '.join(map(repr, near))}?)" if near else
                                   f"; its modules are {[p for p in paths if p][:8]}"))
    for key, value in names.items():
        if not isinstance(value, str) or _mlx_module(mlx_model, value) is None:
            raise PairError(f"names={{{key!r}: {value!r}}}: the MLX model has no module at {value!r}")
    for key, rule in rules.items():
        if not isinstance(rule, Rule):
            raise PairError(f"rules={{{key!r}: ...}}: give a pair.Rule (e.g. pair.after_flatten(C, H, W)), got "
                            f"{type(rule).__name__}")


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
