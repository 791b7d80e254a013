"""Parameter, Module and Sequential: the PyTorch-shaped object model of cnn_ext.nn.

A Module computes forward(x) and, given dL/dy, backward(grad_out) -> dL/dx; parameter
gradients accumulate in Parameter.grad until zero_grad().
"""
from collections import OrderedDict

import numpy as np


class Parameter:
    """A trainable array (.data) and its accumulated gradient (.grad), float32 by default."""

    def __init__(self, data, dtype=np.float32):
        self.data = np.ascontiguousarray(data, dtype=dtype)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def size(self):
        return self.data.size

    def zero_grad(self):
        self.grad.fill(0)

    def astype(self, dtype):
        self.data = np.ascontiguousarray(self.data, dtype=dtype)
        self.grad = np.ascontiguousarray(self.grad, dtype=dtype)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and model."""

    # Set by Sequential just before it calls the layer: the output (or input gradient) is an
    # intermediate that only the next (previous) layer reads, so the layer may write it into
    # a buffer it reuses on every call instead of allocating (see cnn_ext._workspace).
    _reuse_out = False
    _reuse_grad = False

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning attributes")
        for table in (self._parameters, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, value):
        """A non-trainable state array saved in state_dict (e.g. BatchNorm's running_mean)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def _set_buffer(self, name, value):
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    # -- computation --------------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out, input_grad=True):
        """dL/dinput for dL/doutput = grad_out (parameter gradients accumulate in .grad)."""
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def __call__(self, x):
        return self.forward(x)

    def _buffer(self, name, shape, dtype, reuse):
        """A reused per-layer, per-thread array when reuse is True, else None (allocate)."""
        if not reuse:
            return None
        bufs = self.__dict__.get("_bufs")
        if bufs is None:
            from .._workspace import Workspace
            bufs = Workspace()
            object.__setattr__(self, "_bufs", bufs)
        return bufs.get(name, shape, dtype)

    def _need_forward(self, *attrs):
        for a in attrs:
            if getattr(self, a, None) is None:
                raise RuntimeError(f"{type(self).__name__}.backward called before forward: "
                                   "run a forward pass in training mode first")

    # -- traversal ----------------------------------------------------------------------
    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix=""):
        for name, p in self._parameters.items():
            yield (f"{prefix}.{name}" if prefix else name), p
        for name, m in self._modules.items():
            yield from m.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for name, b in self._buffers.items():
            yield (f"{prefix}.{name}" if prefix else name), b
        for name, m in self._modules.items():
            yield from m.named_buffers(f"{prefix}.{name}" if prefix else name)

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def astype(self, dtype):
        """Convert every parameter (and float buffer) to dtype, e.g. np.float64 for grad checks."""
        for m in self.modules():
            for p in m._parameters.values():
                p.astype(dtype)
            for name, b in list(m._buffers.items()):
                if b.dtype.kind == "f":
                    m._set_buffer(name, b.astype(dtype))
        return self

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    @property
    def dtype(self):
        ps = self.parameters()
        return ps[0].data.dtype if ps else np.dtype(np.float32)

    def num_parameters(self):
        return int(sum(p.size for p in self.parameters()))

    # -- state --------------------------------------------------------------------------
    def state_dict(self):
        """OrderedDict of dotted names (as PyTorch's) to copies of parameters and buffers."""
        out = OrderedDict()
        for m_name, m in self.named_modules():
            pre = f"{m_name}." if m_name else ""
            for name, p in m._parameters.items():
                out[pre + name] = p.data.copy()
            for name, b in m._buffers.items():
                out[pre + name] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into parameters and buffers; mismatches raise as PyTorch does.

        Missing or unexpected keys (when strict) and shape mismatches raise RuntimeError
        listing every problem.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays; got "
                            f"{type(state_dict).__name__}")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        for k, v in state_dict.items():
            if k in own:
                arr = np.asarray(v)
                if arr.shape != own[k].shape:
                    problems.append(f"size mismatch for {k}: copying a param with shape "
                                    f"{arr.shape}, the shape in current model is {own[k].shape}")
                elif arr.dtype.kind not in "biuf":
                    problems.append(f"{k}: expected a numeric array, got dtype {arr.dtype}")
        if strict:
            if missing:
                problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        for m_name, m in self.named_modules():
            pre = f"{m_name}." if m_name else ""
            for name, p in m._parameters.items():
                if pre + name in state_dict:
                    p.data[...] = np.asarray(state_dict[pre + name], dtype=p.data.dtype)
            for name, b in list(m._buffers.items()):
                if pre + name in state_dict:
                    m._set_buffer(name, np.array(state_dict[pre + name], dtype=b.dtype))
            m._after_load()
        return self

    def _after_load(self):
        """Hook for layers that build parameters lazily."""

    # -- description --------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def get_config(self):
        """Constructor arguments, JSON-serializable (used by cnn_ext.save)."""
        return {}

    def __repr__(self):
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        lines.append(")")
        return "\n".join(lines)

    def output_shape(self, input_shape):
        """Shape of forward's output for an input of input_shape (by a forward on zeros)."""
        was = self.training
        self.eval()
        try:
            y = self.forward(np.zeros((1,) + tuple(input_shape)[1:], dtype=self.dtype))
        finally:
            self.train(was)
        return (input_shape[0],) + y.shape[1:]

    def flops(self, input_shape, output_shape):
        """Multiply-adds x 2 of one forward pass (0 when negligible)."""
        return 0

    def summary(self, input_shape, print_fn=print):
        """Print (and return) a table of each layer's output shape, parameters and FLOPs.

        input_shape: (N, C, H, W) or (C, H, W) (then N = 1).
        """
        from .summary import summarize
        text = summarize(self, tuple(input_shape))
        if print_fn is not None:
            print_fn(text)
        return text


class Sequential(Module):
    """Layers applied in order; children are named "0", "1", ... as in PyTorch."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} must be a Module; got "
                                f"{type(layer).__name__}")
            setattr(self, str(i), layer)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        layers = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*layers[i])
        return layers[i]

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, layer):
        setattr(self, str(len(self)), layer)
        return self

    def _plan(self):
        """Which layers run, and how: a ReLU right after BatchNorm or Conv2d is folded into
        that layer's kernel (and skipped here); every output but the last is an intermediate
        the layer may write into a reused buffer."""
        from .layers import BatchNorm1d, BatchNorm2d, Conv2d, ReLU
        layers = list(self._modules.values())
        plan = []
        for i, layer in enumerate(layers):
            if isinstance(layer, ReLU) and plan and isinstance(plan[-1], (BatchNorm1d, BatchNorm2d, Conv2d)) \
                    and not plan[-1].fuse_relu:
                object.__setattr__(plan[-1], "_planned_relu", True)
                object.__setattr__(plan[-1], "_reuse_out", i + 1 < len(layers))
                continue
            if hasattr(layer, "_planned_relu"):
                object.__setattr__(layer, "_planned_relu", False)
            object.__setattr__(layer, "_reuse_out", i + 1 < len(layers))
            object.__setattr__(layer, "_reuse_grad", bool(plan))
            plan.append(layer)
        return plan

    def forward(self, x):
        spatial = None  # the last (N, C, H, W) shape seen, for Linear's error message
        plan = self._plan()
        for layer in plan:
            if spatial is not None:
                layer._source_shape = spatial
            x = layer(x)
            if getattr(x, "ndim", 0) == 4:
                spatial = x.shape
        object.__setattr__(self, "_last_plan", plan)
        return x

    def backward(self, grad_out, input_grad=True):
        """Backpropagate through the layers; input_grad=False skips dL/dinput of the first
        layer (the training loop never needs the gradient of the images) and returns None."""
        layers = self.__dict__.get("_last_plan") or list(self._modules.values())
        for i in range(len(layers) - 1, -1, -1):
            if i == 0 and not input_grad:
                return layers[0].backward(grad_out, input_grad=False)
            grad_out = layers[i].backward(grad_out)
        return grad_out
