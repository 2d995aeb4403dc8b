"""Model ports checked by ``conformance.pair``: each file defines a torch model, its idiomatic MLX
port, the data, the loss and the optimizer (``PORT``), and one deliberately wrong port (``WRONG``)
with what the report must name. ``python -m conformance pair examples/cnn.py`` runs one."""
