"""Every layer: float64 gradient checks, cross-backend agreement, shape-bug guards."""
import numpy as np
import pytest

import cnn_ext
from cnn_ext import nn
from conftest import BACKENDS, both_backends
from reference import numeric_grad


def _grad_check(layer, x, rtol=1e-5, atol=1e-6, train=True):
    """Check d<layer(x), g>/dx and d/dparams against central differences in float64."""
    layer.double()
    layer.train(train)
    x = x.astype(np.float64)
    rng = np.random.default_rng(7)
    y = layer(x)
    g = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(g)
    grads = {n: p.grad.copy() for n, p in layer.named_parameters()}

    def f():
        return float((layer(x) * g).sum())
    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=rtol, atol=atol)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(grads[n], numeric_grad(f, p.data), rtol=rtol, atol=atol,
                                   err_msg=n)


LAYER_CASES = [
    ("conv", lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2)), (2, 2, 7, 6)),
    ("conv_nobias", lambda: nn.Conv2d(1, 2, 1, bias=False), (2, 1, 4, 5)),
    ("maxpool", lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
    ("maxpool_overlap", lambda: nn.MaxPool2d(3, 2, 1), (2, 2, 7, 5)),
    ("avgpool", lambda: nn.AvgPool2d((2, 3), (1, 2), (1, 1)), (2, 2, 5, 7)),
    ("linear", lambda: nn.Linear(6, 4), (3, 6)),
    ("flatten", lambda: nn.Flatten(), (2, 3, 2, 2)),
    ("relu", lambda: nn.ReLU(), (3, 5)),
    ("leaky", lambda: nn.LeakyReLU(0.1), (3, 5)),
    ("sigmoid", lambda: nn.Sigmoid(), (3, 5)),
    ("tanh", lambda: nn.Tanh(), (3, 5)),
    ("bn2d", lambda: nn.BatchNorm2d(3), (4, 3, 3, 2)),
    ("bn1d", lambda: nn.BatchNorm1d(5), (6, 5)),
    ("bn1d_3d", lambda: nn.BatchNorm1d(2), (3, 2, 4)),
]


@both_backends
@pytest.mark.parametrize("name,make,shape", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_gradients(backend, name, make, shape):
    cnn_ext.manual_seed(0)
    layer = make()
    x = np.random.default_rng(3).standard_normal(shape)
    if name.startswith("maxpool"):  # distinct values so the max is unique
        x = np.random.default_rng(3).permutation(x.size).reshape(shape) * 0.1
    if name in ("relu", "leaky"):
        x[np.abs(x) < 1e-3] = 0.5
    _grad_check(layer, x)


@both_backends
def test_batchnorm_eval_gradients(backend):
    bn = nn.BatchNorm2d(3)
    bn(np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32))  # stats
    _grad_check(bn, np.random.default_rng(1).standard_normal((2, 3, 2, 2)), train=False)
    bn.double().eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2))
    y = bn(x)
    scale = bn.weight.data / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(y, (x - bn.running_mean[None, :, None, None]) * scale[None, :, None, None]
                               + bn.bias.data[None, :, None, None], rtol=1e-6)


@both_backends
def test_fused_conv_relu_and_bn_relu_gradients(backend):
    conv = nn.Conv2d(2, 3, 3, padding=1)
    conv.fuse_relu = True
    _grad_check(conv, np.random.default_rng(2).standard_normal((2, 2, 5, 5)))
    bn = nn.BatchNorm2d(3, fuse_relu=True)
    _grad_check(bn, np.random.default_rng(4).standard_normal((3, 3, 3, 3)))


def test_backends_agree_on_fashion_cnn_step():
    if len(BACKENDS) < 2:
        pytest.skip("compiled backend not built")
    x = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
    y = np.arange(16) % 10
    out = {}
    for name in BACKENDS:
        cnn_ext.set_backend(name)
        cnn_ext.manual_seed(1)
        m = cnn_ext.fashion_cnn(dropout=0.0)
        crit = nn.CrossEntropyLoss()
        logits = m(x)
        loss = crit(logits, y)
        m.backward(crit.backward())
        out[name] = (logits, loss, [p.grad.copy() for p in m.parameters()])
    a, b = out["cython"], out["numpy"]
    np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-5)
    assert abs(a[1] - b[1]) < 1e-5
    for ga, gb in zip(a[2], b[2]):
        np.testing.assert_allclose(ga, gb, rtol=1e-3, atol=1e-5)


# --- the seed's three shape bugs -------------------------------------------------------

def test_linear_infers_features_after_pooling():
    """Bug 1: the FC after a 2x2 max-pool must see H/2 x W/2 — users never compute it."""
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(None, 10))
    y = m(np.zeros((5, 1, 28, 28), np.float32))
    assert y.shape == (5, 10)
    assert m[3].in_features == 8 * 14 * 14
    assert nn.LazyLinear(3)(np.zeros((2, 7), np.float32)).shape == (2, 3)


def test_linear_mismatch_message_points_at_pooling():
    m = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.Flatten(), nn.Linear(3136, 10))
    with pytest.raises(ValueError, match=r"Linear expects 3136 input features, got 50176 from a "
                                         r"\(N, 64, 28, 28\) input; did you forget a pooling layer\?"):
        m(np.zeros((2, 1, 28, 28), np.float32))


def test_fc_output_is_classes_not_batch():
    """Bug 2: the output size is the number of classes whatever the batch size."""
    m = cnn_ext.fashion_cnn()
    m.eval()
    for n in (1, 3, 64):
        assert m(np.zeros((n, 1, 28, 28), np.float32)).shape == (n, 10)


def test_pooling_keeps_channels():
    """Bug 3: pooling's in and out channels are the same; no channel arguments exist."""
    x = np.zeros((2, 32, 28, 28), np.float32)
    assert nn.MaxPool2d(2)(x).shape == (2, 32, 14, 14)
    assert nn.AvgPool2d(2)(x).shape == (2, 32, 14, 14)
    with pytest.raises(TypeError):
        nn.MaxPool2d(2, in_channels=32)  # there is nothing to get wrong


def test_summary_lists_shapes_params_flops():
    text = cnn_ext.fashion_cnn().summary((128, 1, 28, 28), print_fn=None)
    assert "(128, 64, 7, 7)" in text and "(128, 10)" in text
    assert "421,834" in text  # same parameter count as the PyTorch model
    conv2_flops = 2 * 128 * 64 * 14 * 14 * 32 * 9
    assert f"{conv2_flops:,}" in text


def test_module_api():
    m = cnn_ext.fashion_cnn()
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    sd = m.state_dict()
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(sd)
    assert "Conv2d(1, 32, kernel_size=(3, 3)" in repr(m)
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_load_state_dict_errors():
    m = cnn_ext.fashion_cnn()
    sd = m.state_dict()
    bad = dict(sd)
    del bad["0.weight"]
    bad["extra"] = np.zeros(1)
    bad["4.weight"] = np.zeros((1, 1))
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(bad)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "0.weight"' in msg
    assert 'Unexpected key(s) in state_dict: "extra"' in msg
    assert "size mismatch for 4.weight" in msg
    m.load_state_dict(sd)


@both_backends
def test_backward_before_forward(backend):
    for layer in (nn.Conv2d(1, 1, 1), nn.Linear(2, 2), nn.MaxPool2d(2), nn.BatchNorm2d(1), nn.ReLU()):
        with pytest.raises(RuntimeError, match="backward called before forward"):
            layer.backward(np.zeros((1, 1, 1, 1), np.float32))


def test_dropout():
    d = nn.Dropout(0.25, rng=0)
    x = np.ones((200, 100), np.float32)
    y = d(x)
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.75)
    np.testing.assert_array_equal(d.backward(x), y)
    d.eval()
    np.testing.assert_array_equal(d(x), x)


def test_init_functions():
    from cnn_ext.nn import init
    w = np.zeros((64, 32, 3, 3), np.float32)
    init.kaiming_normal_(w, nonlinearity="relu", rng=0)
    assert abs(w.std() - np.sqrt(2 / (32 * 9))) < 0.01
    init.xavier_uniform_(w, rng=1)
    bound = np.sqrt(6 / (32 * 9 + 64 * 9))
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.9 * bound
    init.zeros_(w)
    assert not w.any()
    a = nn.Conv2d(3, 4, 3, rng=5).weight.data
    b = nn.Conv2d(3, 4, 3, rng=5).weight.data
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 1 / np.sqrt(27)


@both_backends
def test_relu_and_tanh_backward_in_a_sequential_reuse_buffers_correctly(backend):
    """Inside a Sequential, ReLU and Tanh write into reused buffers; two steps on different
    inputs give each step's own gradients, and ReLU's gradient is 0 wherever its output is
    0, even where the incoming gradient is NaN (as torch's threshold_backward)."""
    r = np.random.default_rng(8)
    for act in (nn.ReLU, nn.Tanh):
        model = nn.Sequential(nn.Linear(6, 5), act(), nn.Linear(5, 4))
        for _ in range(2):
            x = r.standard_normal((3, 6)).astype(np.float32)
            h = x @ model[0].weight.data.T + model[0].bias.data
            a = np.maximum(h, 0) if act is nn.ReLU else np.tanh(h)
            np.testing.assert_allclose(model(x), a @ model[2].weight.data.T + model[2].bias.data,
                                       rtol=1e-5, atol=1e-6)
            g = r.standard_normal((3, 4)).astype(np.float32)
            dx = model.backward(g)
            da = g @ model[2].weight.data
            dh = np.where(h > 0, da, 0) if act is nn.ReLU else da * (1 - a * a)
            np.testing.assert_allclose(dx, dh @ model[0].weight.data, rtol=1e-4, atol=1e-5)
    relu = nn.ReLU()
    relu(np.array([[-1.0, 2.0, 0.0]], np.float32))
    out = relu.backward(np.array([[np.nan, 3.0, np.inf]], np.float32))
    np.testing.assert_array_equal(out, [[0.0, 3.0, 0.0]])
