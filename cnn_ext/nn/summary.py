"""model.summary(input_shape): each layer's output shape, parameter count and FLOPs."""
import numpy as np


def _leaves(module, prefix=""):
    kids = list(module._modules.items())
    if not kids:
        yield prefix or type(module).__name__, module
        return
    for name, m in kids:
        yield from _leaves(m, f"{prefix}.{name}" if prefix else name)


def summarize(model, input_shape):
    """Run one zero sample through the model's leaf layers in order (Sequential models) and
    return the table as text."""
    from .module import Sequential
    if len(input_shape) == 3:
        input_shape = (1,) + tuple(input_shape)
    N = input_shape[0]
    was = model.training
    model.eval()
    rows = []
    try:
        x = np.zeros((1,) + tuple(input_shape[1:]), dtype=model.dtype)
        leaves = list(_leaves(model)) if isinstance(model, Sequential) else [(type(model).__name__, model)]
        spatial = x.shape if x.ndim == 4 else None
        for name, layer in leaves:
            in_shape = (N,) + x.shape[1:]
            if spatial is not None:
                layer._source_shape = spatial
            x = layer(x)
            if x.ndim == 4:
                spatial = x.shape
            out_shape = (N,) + x.shape[1:]
            params = sum(p.size for p in layer.parameters())
            rows.append((name, type(layer).__name__, out_shape, params, layer.flops(in_shape, out_shape)))
    finally:
        model.train(was)
    head = f"{'layer':<10}{'type':<14}{'output shape':<22}{'params':>10}{'FLOPs':>14}"
    lines = [f"input {tuple(input_shape)}", head, "-" * len(head)]
    for name, kind, shape, params, flops in rows:
        lines.append(f"{name:<10}{kind:<14}{str(shape):<22}{params:>10,}{flops:>14,}")
    lines.append("-" * len(head))
    total_p = sum(r[3] for r in rows)
    total_f = sum(r[4] for r in rows)
    lines.append(f"{'total':<46}{total_p:>10,}{total_f:>14,}")
    return "\n".join(lines)
