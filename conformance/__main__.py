import sys

try:  # numpy, MLX and torch load here: Ctrl-C during the imports is an interrupt like any other
    from .cli import main
except KeyboardInterrupt:
    print("python -m conformance: interrupted before the run; nothing written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
