"""The seed document's training pipeline in PyTorch: the reference ``mlx_reference`` is checked against.

One module per step of the document; ``mlx_reference`` mirrors every module, function and argument
name. This package never imports MLX. Data enter and leave as numpy arrays; weights travel as
``dict[str, np.ndarray]`` with PyTorch's key names (``fc1.weight``, ...).
"""

FRAMEWORK = "torch"
