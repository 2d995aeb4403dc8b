"""Which tensor of a model's output is the prediction: ``output=`` of ``pair.check``.

Models return a tensor, a tuple (transformers with ``return_dict=False``, a recurrent layer's
``(output, state)``), a dict, or an output object (transformers' ``CausalLMOutputWithPast`` and
the like). ``select(out, output)`` picks the tensor the loss and the comparison use:

- ``output=None`` (the default): a tensor as it is; a dict or an object with ``logits``, its
  ``logits``; a tuple or list, its first element (recursively); anything else is refused;
- ``output="name"``: that key of a dict or attribute of an object;
- ``output=i`` (an int): that element of a tuple or list;
- ``output=callable``: ``output(out)``, the same function on both sides.

The same selector runs on both sides, so it must make sense for both models' outputs.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import PairError


def _is_tensor(x) -> bool:
    return type(x).__module__.split(".")[0] in ("torch", "mlx") and hasattr(x, "shape") and hasattr(x, "dtype")


def _keys(out) -> list[str]:
    if isinstance(out, dict):
        return [str(k) for k in out]
    if hasattr(out, "keys") and callable(out.keys):
        try:
            return [str(k) for k in out.keys()]
        except Exception:  # noqa: BLE001 - an object whose keys() is not a mapping's
            return []
    return [k for k in vars(out)] if hasattr(out, "__dict__") else []


def select(out: Any, output: str | int | Callable | None = None, side: str = "") -> Any:
    """The prediction tensor of ``out`` (see the module's docstring); ``PairError`` if there is none."""
    where = f"the {side} model's output" if side else "the model's output"
    if callable(output) and not isinstance(output, (str, int)):
        picked = output(out)
        if not _is_tensor(picked):
            raise PairError(f"output=: the function returned {type(picked).__name__} for {where}, not a tensor")
        return picked
    if isinstance(output, bool):
        raise PairError(f"output={output!r}: give None, a key or attribute name, an index or a function")
    if isinstance(output, int):
        if not isinstance(out, (tuple, list)) or not -len(out) <= output < len(out):
            raise PairError(f"output={output}: {where} is {type(out).__name__}"
                            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
                            + "; give an index it has, a name, or a function")
        return select(out[output], None, side)
    if isinstance(output, str):
        if isinstance(out, dict) or (hasattr(out, "keys") and not _is_tensor(out)):
            try:
                return select(out[output], None, side)
            except (KeyError, TypeError, IndexError):
                pass
        if hasattr(out, output) and not _is_tensor(out):
            return select(getattr(out, output), None, side)
        raise PairError(f"output={output!r}: {where} ({type(out).__name__}) has no such key or attribute; it has "
                        f"{_keys(out)[:8] or 'none'}")
    if output is not None:
        raise PairError(f"output={output!r}: give None, a key or attribute name, an index or a function")
    if _is_tensor(out):
        return out
    if isinstance(out, (tuple, list)):
        if not out:
            raise PairError(f"{where} is an empty {type(out).__name__}; pass output= to say which tensor to compare")
        return select(out[0], None, side)
    if isinstance(out, dict) or hasattr(out, "logits"):
        if "logits" in _keys(out) or hasattr(out, "logits"):
            return select(out["logits"] if isinstance(out, dict) else getattr(out, "logits"), None, side)
        raise PairError(f"{where} is {type(out).__name__} with keys {_keys(out)[:8]} and no 'logits'; pass "
                        "output='name' (or an index, or a function) to say which tensor the loss reads")
    raise PairError(f"{where} is {type(out).__name__}, not a tensor; pass output= (a key, attribute, index or "
                    "function) to say which tensor the loss reads")


def first_tensor(out: Any) -> Any:
    """For the layer comparison: the tensor a layer returned (the first of a tuple, a dict's or an
    object's ``logits``), or None when there is none."""
    try:
        return select(out)
    except PairError:
        return None
