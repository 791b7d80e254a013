"""Layers, losses, optimizers and schedulers against PyTorch, with the same weights
(skipped, with a reason, when torch is not installed)."""
import numpy as np
import pytest

import cnn_ext
from cnn_ext import nn, optim
from conftest import both_backends

torch = pytest.importorskip("torch", reason="torch not installed: parity tests need `pip install torch==2.13.0`")


def torch_fashion_cnn():
    T = torch.nn
    return T.Sequential(T.Conv2d(1, 32, 3, padding=1), T.BatchNorm2d(32), T.ReLU(), T.MaxPool2d(2),
                        T.Conv2d(32, 64, 3, padding=1), T.BatchNorm2d(64), T.ReLU(), T.MaxPool2d(2),
                        T.Flatten(), T.Linear(3136, 128), T.ReLU(), T.Dropout(0.5), T.Linear(128, 10))


def torch_lenet5():
    T = torch.nn
    return T.Sequential(T.Conv2d(1, 6, 5), T.Tanh(), T.AvgPool2d(2), T.Conv2d(6, 16, 5), T.Tanh(),
                        T.AvgPool2d(2), T.Flatten(), T.Linear(400, 120), T.Tanh(), T.Linear(120, 84),
                        T.Tanh(), T.Linear(84, 10))


def _copy_to_torch(ours, theirs):
    sd = {k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(sd)


@both_backends
@pytest.mark.parametrize("which", ["fashion_cnn", "lenet5"])
def test_models_match_torch_forward_backward(backend, which):
    cnn_ext.manual_seed(0)
    ours = cnn_ext.fashion_cnn(dropout=0.0) if which == "fashion_cnn" else cnn_ext.lenet5()
    theirs = torch_fashion_cnn() if which == "fashion_cnn" else torch_lenet5()
    if which == "fashion_cnn":
        theirs[11].p = 0.0
    _copy_to_torch(ours, theirs)
    size = 28 if which == "fashion_cnn" else 32
    x = np.random.default_rng(1).standard_normal((8, 1, size, size)).astype(np.float32)
    y = np.arange(8) % 10
    crit = nn.CrossEntropyLoss()
    loss = crit(ours(x), y)
    ours.backward(crit.backward())
    xt = torch.tensor(x)
    lt = torch.nn.functional.cross_entropy(theirs(xt), torch.tensor(y))
    lt.backward()
    assert abs(loss - lt.item()) < 1e-5
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, tp[name].grad.numpy(), rtol=1e-3, atol=2e-5, err_msg=name)
    tb = dict(theirs.named_buffers())
    for name, b in ours.state_dict().items():
        if "running" in name:
            np.testing.assert_allclose(b, tb[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    # eval mode uses running statistics in both
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(x), theirs(xt).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_pytorch_weights_load_into_ours():
    theirs = torch_fashion_cnn()
    ours = cnn_ext.fashion_cnn()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval(), theirs.eval()
    x = np.random.default_rng(2).standard_normal((4, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_layer_parity_small_modules():
    x = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    for ours, theirs in ((nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.Sigmoid(), torch.nn.Sigmoid()),
                         (nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5))):
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        g = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_cross_entropy_and_mse_match_torch():
    r = np.random.default_rng(5)
    z = r.standard_normal((7, 4)).astype(np.float32) * 10
    y = r.integers(0, 4, 7)
    for eps in (0.0, 0.1):
        ce = nn.CrossEntropyLoss(label_smoothing=eps)
        zt = torch.tensor(z, requires_grad=True)
        lt = torch.nn.functional.cross_entropy(zt, torch.tensor(y), label_smoothing=eps)
        lt.backward()
        assert abs(ce(z, y) - lt.item()) < 1e-5
        np.testing.assert_allclose(ce.backward(), zt.grad.numpy(), rtol=1e-5, atol=1e-7)
    t = r.standard_normal((7, 4)).astype(np.float32)
    mse = nn.MSELoss()
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.mse_loss(zt, torch.tensor(t))
    lt.backward()
    assert abs(mse(z, t) - lt.item()) < 1e-3
    np.testing.assert_allclose(mse.backward(), zt.grad.numpy(), rtol=1e-5)


OPTS = [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2)), ("Adam", dict(lr=1e-2, weight_decay=1e-2, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=1e-2)), ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kw", OPTS)
@pytest.mark.parametrize("sched", [None, "step", "cosine"])
def test_optimizer_steps_match_torch(name, kw, sched):
    r = np.random.default_rng(6)
    w0 = r.standard_normal((5, 3)).astype(np.float32)
    p = nn.Parameter(w0.copy())
    pt = torch.nn.Parameter(torch.tensor(w0.copy()))
    opt = getattr(optim, name)([p], **kw)
    opt_t = getattr(torch.optim, name)([pt], **kw)
    if sched == "step":
        s, st = optim.lr_scheduler.StepLR(opt, 2, 0.5), torch.optim.lr_scheduler.StepLR(opt_t, 2, 0.5)
    elif sched == "cosine":
        s, st = (optim.lr_scheduler.CosineAnnealingLR(opt, 5, 1e-4),
                 torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, 5, 1e-4))
    else:
        s = st = None
    for step in range(8):
        g = r.standard_normal(w0.shape).astype(np.float32)
        p.grad[...] = g
        pt.grad = torch.tensor(g)
        opt.step()
        opt_t.step()
        if s is not None:
            s.step()
            st.step()
            assert abs(opt.param_groups[0]["lr"] - opt_t.param_groups[0]["lr"]) < 1e-9
        np.testing.assert_allclose(p.data, pt.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"step {step}")
