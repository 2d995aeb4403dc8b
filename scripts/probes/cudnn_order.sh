for order in "mlx first" "torch first"; do
python3 - "$order" <<'PY'
import sys
order = sys.argv[1]
if order == "mlx first":
    import mlx.core as mx
    import torch
else:
    import torch; torch.backends.cudnn.version()
    import mlx.core as mx
import mlx.nn as nn
x = mx.random.normal((2, 8, 8, 3)); mx.eval(nn.Conv2d(3, 4, 3)(x))  # MLX's cuDNN conv
try:
    out, _ = torch.nn.LSTM(3, 4, batch_first=True).cuda()(torch.randn(2, 5, 3, device="cuda"))
    print(order, ": torch LSTM ok, cudnn", torch.backends.cudnn.version())
except RuntimeError as e:
    print(order, ": torch LSTM FAILS:", str(e)[:120])
PY
done
grep -l "libcudnn" /proc/self/maps >/dev/null 2>&1; ls /usr/lib/x86_64-linux-gnu/libcudnn* 2>/dev/null | head -2
