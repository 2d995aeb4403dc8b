"""The seed document's training pipeline, written in idiomatic MLX.

One module per step of the document; ``reference_torch`` mirrors every module, function and
argument name. This package never imports PyTorch. Data enter and leave as numpy arrays; weights
travel as ``dict[str, np.ndarray]`` with PyTorch's key names (``fc1.weight``, ...).
"""

FRAMEWORK = "mlx"
