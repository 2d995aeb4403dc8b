import sys

try:  # numpy, MLX and torch load here: Ctrl-C during the imports is an interrupt like any other
    from .sides import torch_cudnn_first

    torch_cudnn_first()
    if sys.argv[1:2] == ["pair"]:
        from .pair.cli import main as pair_main

        sys.exit(pair_main(sys.argv[2:]))
    from .cli import main
except KeyboardInterrupt:
    prog = "python -m conformance" + (" pair" if sys.argv[1:2] == ["pair"] else "")
    print(f"{prog}: interrupted while loading numpy, MLX and torch; nothing written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
