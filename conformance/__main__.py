import sys

try:  # numpy, MLX and torch load here: Ctrl-C during the imports is an interrupt like any other
    from .sides import torch_cudnn_first

    torch_cudnn_first()
    if sys.argv[1:2] == ["pair"]:
        from .pair.cli import main as pair_main

        sys.exit(pair_main(sys.argv[2:]))
    from .cli import main
except KeyboardInterrupt:
    print("python -m conformance: interrupted before the run; nothing written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
