"""SGD, Adam and AdamW with PyTorch's update rules, over lists of Parameters."""
import math

import numpy as np

from .. import _backend
from .._validation import check_finite_number


class Optimizer:
    defaults = {}

    def __init__(self, params, **hyper):
        name = type(self).__name__
        params = list(params)
        if not params:
            raise ValueError(f"{name}: optimizer got an empty parameter list (did the model's "
                             "forward run once to build lazy layers?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for g in groups:
            g = dict(g)
            g["params"] = list(g["params"])
            for p in g["params"]:
                if not (hasattr(p, "data") and hasattr(p, "grad")):
                    raise TypeError(f"{name}: params must be cnn_ext.nn.Parameter objects; got "
                                    f"{type(p).__name__}")
            for k, v in hyper.items():
                g.setdefault(k, v)
            self._check(g)
            g.setdefault("initial_lr", g["lr"])
            self.param_groups.append(g)
        self.state = {}  # index of the parameter (over all groups) -> dict of arrays
        self.step_count = 0

    def _check(self, g):
        name = type(self).__name__
        check_finite_number(name, "lr", g["lr"], 0)
        check_finite_number(name, "weight_decay", g.get("weight_decay", 0.0), 0)

    def _params(self):
        i = 0
        for g in self.param_groups:
            for p in g["params"]:
                yield i, g, p
                i += 1

    def zero_grad(self):
        for _, _, p in self._params():
            p.grad.fill(0)

    def step(self):
        self.step_count += 1
        for i, g, p in self._params():
            self._update(i, g, p, self.state.setdefault(i, {}))

    def state_dict(self):
        """{'state': {index: {name: array}}, 'param_groups': [hyper-parameters], 'step_count'}."""
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for i, s in self.state.items()}
        return {"state": state, "param_groups": groups, "step_count": self.step_count}

    def load_state_dict(self, sd):
        name = type(self).__name__
        if len(sd["param_groups"]) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(sd['param_groups'])} parameter groups "
                             f"saved, the optimizer has {len(self.param_groups)}")
        shapes = {i: p.data.shape for i, _, p in self._params()}
        for i, s in sd["state"].items():
            i = int(i)
            if i not in shapes:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which this "
                                 "optimizer does not have")
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.shape != shapes[i]:
                    raise ValueError(f"{name}.load_state_dict: state '{k}' of parameter {i} has "
                                     f"shape {v.shape}, the parameter has {shapes[i]}")
        for g, saved in zip(self.param_groups, sd["param_groups"]):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {int(i): {k: (np.array(v) if isinstance(v, np.ndarray) else v)
                               for k, v in s.items()} for i, s in sd["state"].items()}
        self.step_count = int(sd.get("step_count", 0))


class SGD(Optimizer):
    """p -= lr * d, d = grad + weight_decay*p with (Nesterov) momentum, as torch.optim.SGD."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def _check(self, g):
        super()._check(g)
        check_finite_number("SGD", "momentum", g["momentum"], 0)

    def _update(self, i, g, p, st):
        d = p.grad
        if g["weight_decay"]:
            d = d + g["weight_decay"] * p.data
        if g["momentum"]:
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = np.array(d, dtype=p.data.dtype, copy=True)
            else:
                buf *= g["momentum"]
                buf += (1 - g["dampening"]) * d
            d = d + g["momentum"] * buf if g["nesterov"] else buf
        p.data -= p.data.dtype.type(g["lr"]) * d


class Adam(Optimizer):
    """Adam as torch.optim.Adam (weight_decay is L2 added to the gradient)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _check(self, g):
        super()._check(g)
        b1, b2 = g["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1); got {g['betas']}")
        check_finite_number(type(self).__name__, "eps", g["eps"], 0)

    def _update(self, i, g, p, st):
        lr, (b1, b2), eps, wd = g["lr"], g["betas"], g["eps"], g["weight_decay"]
        grad = p.grad
        if "exp_avg" not in st:
            st["exp_avg"] = np.zeros_like(p.data)
            st["exp_avg_sq"] = np.zeros_like(p.data)
            st["step"] = 0
        st["step"] += 1
        t = st["step"]
        m, v = st["exp_avg"], st["exp_avg_sq"]
        fused = _backend.active().adam_update
        if fused is not None and grad.dtype == p.data.dtype and p.data.flags.c_contiguous \
                and m.flags.c_contiguous and v.flags.c_contiguous:
            # one compiled pass: the arithmetic below, rounded in the same order
            fused(p.data.reshape(-1), np.ascontiguousarray(grad).reshape(-1), m.reshape(-1),
                  v.reshape(-1), lr, b1, b2, eps, wd if wd else 0.0, self.decoupled, t)
            return
        if wd and self.decoupled:
            p.data *= p.data.dtype.type(1 - lr * wd)
        elif wd:
            grad = grad + wd * p.data
        # the same operations as out-of-place NumPy, into two reused buffers per parameter
        # (a fresh multi-MB temporary per operation costs page faults on every step)
        a, b = self._buffers(i, p.data)
        m *= b1
        np.multiply(grad, 1 - b1, out=a)
        m += a
        v *= b2
        np.multiply(grad, 1 - b2, out=a)
        a *= grad
        v += a
        bc1 = 1 - b1 ** t
        bc2 = 1 - b2 ** t
        np.sqrt(v, out=a)
        a /= math.sqrt(bc2)
        a += eps
        np.multiply(m, lr / bc1, out=b)
        b /= a
        p.data -= b

    def _buffers(self, i, like):
        """Two scratch arrays shaped like parameter i (not part of the optimizer's state)."""
        bufs = self.__dict__.setdefault("_scratch", {})
        pair = bufs.get(i)
        if pair is None or pair[0].shape != like.shape or pair[0].dtype != like.dtype:
            pair = bufs[i] = (np.empty_like(like), np.empty_like(like))
        return pair


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch.optim.AdamW (default weight_decay=1e-2)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
