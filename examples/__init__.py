"""Model ports checked by ``conformance.pair``: each file defines a torch model, its idiomatic MLX
port, the data, the loss and the optimizer (``port()``), and one deliberately wrong port (``wrong()``)
with the name the report must give (``WRONG_NAMES``). ``python -m conformance pair examples/cnn.py`` runs one."""
