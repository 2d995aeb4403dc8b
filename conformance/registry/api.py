"""The API table of the guide: PyTorch spellings, their MLX counterparts, and checks that run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiName:
    """One row of the API table: the torch spelling, the MLX spelling, and executable checks.

    ``torch_check`` and ``mlx_check`` are expressions that must evaluate without error (names:
    ``torch``, ``F`` (torch.nn.functional), ``tnn`` (torch.nn), ``mx``, ``nn`` (mlx.nn), ``optim``
    (mlx.optimizers), ``np``, ``importlib``, ``inspect``, and ``a`` / ``t``: a (2, 3) MLX array / torch tensor,
    ``model`` / ``tmodel``: the two SimpleNNs). ``naive`` is the torch spelling applied to MLX, which
    must raise ``naive_error``; None where the torch spelling also works in MLX.
    """

    torch: str
    mlx: str
    note: str
    torch_check: str
    mlx_check: str
    naive: str | None = None
    naive_error: str | None = None


API_NAMES: tuple[ApiName, ...] = (
    ApiName("import torch.optim", "import mlx.optimizers", "",
            "importlib.import_module('torch.optim')", "importlib.import_module('mlx.optimizers')",
            "importlib.import_module('mlx.optim')", "ModuleNotFoundError"),
    ApiName("Adam(model.parameters(), lr=1e-3)", "Adam(learning_rate=1e-3, bias_correction=True)",
            "no parameters; betas a list", "torch.optim.Adam(tmodel.parameters(), lr=1e-3)",
            "optim.Adam(learning_rate=1e-3, bias_correction=True)",
            "optim.Adam(model.parameters(), lr=1e-3)", "TypeError"),
    ApiName("opt.zero_grad(); loss.backward(); opt.step()",
            "loss, g = nn.value_and_grad(model, fn)(model, X, y); opt.update(model, g)", "",
            "torch.optim.Adam(tmodel.parameters()).zero_grad", "nn.value_and_grad",
            "optim.Adam(learning_rate=1e-3).zero_grad()", "AttributeError"),
    ApiName("def forward(self, x)", "def __call__(self, x)", "", "tnn.Module.forward", "nn.Module.__call__",
            "nn.Module.forward", "AttributeError"),
    ApiName("torch.relu(x) / F.relu(x)", "nn.relu(x)", "", "torch.relu(t)", "nn.relu(a)", "mx.relu(a)", "AttributeError"),
    ApiName("nn.BCEWithLogitsLoss()(z, y)", "nn.losses.binary_cross_entropy(z, y)", "logits by default",
            "tnn.BCEWithLogitsLoss", "nn.losses.binary_cross_entropy", "nn.BCEWithLogitsLoss", "AttributeError"),
    ApiName("nn.BCELoss()(p, y)", "nn.losses.binary_cross_entropy(p, y, with_logits=False)", "",
            "tnn.BCELoss", "nn.losses.binary_cross_entropy", "nn.BCELoss", "AttributeError"),
    ApiName("nn.CrossEntropyLoss() (mean)", "nn.losses.cross_entropy(..., reduction='mean')",
            "MLX's default reduction is 'none'", "tnn.CrossEntropyLoss().reduction == 'mean'",
            "inspect.signature(nn.losses.cross_entropy).parameters['reduction'].default == 'none'",
            "nn.CrossEntropyLoss()", "AttributeError"),
    ApiName("t.numpy()", "np.array(a)", "torch's is a view, MLX's a copy", "t.numpy()", "np.array(a)",
            "a.numpy()", "AttributeError"),
    ApiName("t.to(torch.int32) / t.float()", "a.astype(mx.int32) / a.astype(mx.float32)", "",
            "t.to(torch.int32)", "a.astype(mx.int32)", "a.float()", "AttributeError"),
    ApiName("t.sum(dim=0, keepdim=True)", "a.sum(axis=0, keepdims=True)", "", "t.sum(dim=0, keepdim=True)",
            "a.sum(axis=0, keepdims=True)", "mx.sum(a, dim=0)", "TypeError"),
    ApiName("torch.cat([t, t])", "mx.concatenate([a, a])", "", "torch.cat([t, t])", "mx.concatenate([a, a])",
            "mx.cat([a, a])", "AttributeError"),
    ApiName("t.size() / t.view(-1)", "a.shape / a.reshape(-1)", "`a.size` is the element count",
            "t.view(-1)", "a.reshape(-1)", "a.size()", "TypeError"),
    ApiName("torch.std(t, 0) (n-1)", "mx.std(a, 0, ddof=1)", "MLX's default is ddof=0",
            "torch.std(t, 0)", "mx.std(a, 0, ddof=1)"),
    ApiName("torch.no_grad()", "(nothing) / mx.stop_gradient(x)", "", "torch.no_grad()", "mx.stop_gradient(a)",
            "mx.no_grad()", "AttributeError"),
    ApiName("torch.manual_seed(0)", "mx.random.seed(0)", "different streams: see random-streams",
            "torch.manual_seed(0)", "mx.random.seed(0)", "mx.manual_seed(0)", "AttributeError"),
    ApiName("model.state_dict()", "dict(tree_flatten(model.parameters()))", "MLX: nested dicts; flatten for torch's keys",
            "tmodel.state_dict()", "dict(__import__('mlx.utils').utils.tree_flatten(model.parameters()))",
            "model.state_dict()", "AttributeError"),
    ApiName("model.load_state_dict(sd)", "model.update(tree_unflatten(list(sd.items())))", "",
            "tmodel.load_state_dict", "model.update", "model.load_state_dict", "AttributeError"),
    ApiName("opt.param_groups[0]['lr'] = lr", "opt.learning_rate = lr", "stored as a float32 array",
            "torch.optim.Adam(tmodel.parameters()).param_groups[0]['lr']", "optim.Adam(learning_rate=1e-3).learning_rate",
            "optim.Adam(learning_rate=1e-3).param_groups", "AttributeError"),
    ApiName("lr_scheduler.ReduceLROnPlateau", "(none: mlx_reference.optim.ReduceLROnPlateau)", "",
            "torch.optim.lr_scheduler.ReduceLROnPlateau", "__import__('mlx_reference.optim').optim.ReduceLROnPlateau",
            "optim.ReduceLROnPlateau", "AttributeError"),
    ApiName("torch.compile(fn)", "mx.compile(fn, inputs=state, outputs=state)", "state must be declared",
            "torch.compile", "mx.compile"),
    ApiName("torch.cuda.synchronize()", "mx.synchronize()", "", "torch.cuda.synchronize", "mx.synchronize",
            "mx.cuda.synchronize()", "AttributeError"),
    ApiName("torch.set_default_device('cuda')", "mx.set_default_device(mx.gpu)", "", "torch.set_default_device",
            "mx.set_default_device"),
    ApiName("nn.ModuleList([...])", "[...] (a plain list)", "a tuple hides its layers: see module-parameter-registration",
            "tnn.ModuleList", "nn.Sequential", "nn.ModuleList", "AttributeError"),
    ApiName("self.register_buffer('b', t)", "self.b = a; self.freeze(keys=['b'], recurse=False)", "",
            "tnn.Module.register_buffer", "nn.Module.freeze", "nn.Module.register_buffer", "AttributeError"),
    ApiName("nn.init.xavier_uniform_(w)", "w = nn.init.glorot_uniform()(w)", "returns, does not fill in place",
            "tnn.init.xavier_uniform_", "nn.init.glorot_uniform()(a)", "nn.init.xavier_uniform_", "AttributeError"),
    ApiName("x.permute(0, 2, 3, 1)", "a.transpose(0, 2, 3, 1)", "NCHW to MLX's NHWC", "t[None].permute(0, 2, 1)",
            "a[None].transpose(0, 2, 1)", "a.permute(1, 0)", "AttributeError"),
    ApiName("nn.utils.clip_grad_norm_(params, m)", "grads, norm = optim.clip_grad_norm(grads, m)",
            "returns the clipped tree", "tnn.utils.clip_grad_norm_", "optim.clip_grad_norm", "nn.utils.clip_grad_norm_",
            "AttributeError"),
    ApiName("torch.autocast / GradScaler", "(none: cast and scale by hand)", "see no-autocast-gradscaler",
            "torch.autocast", "mx.float16", "mx.autocast", "AttributeError"),
    ApiName("torch.cuda.max_memory_allocated()", "mx.get_peak_memory()", "plus mx.get_cache_memory()",
            "torch.cuda.max_memory_allocated", "mx.get_peak_memory", "mx.max_memory_allocated()", "AttributeError"),
    ApiName("dist.all_reduce(g); g /= world_size", "grads = nn.average_gradients(grads)", "all_sum alone sums",
            "torch.distributed.all_reduce", "nn.average_gradients", "mx.distributed.all_reduce", "AttributeError"),
)
