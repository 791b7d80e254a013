"""Catalogue of bad inputs: each raises a clear ValueError/TypeError naming the argument,
the expected and the actual value. Kernel-level cases also run in a child process, so a
segfault fails the test instead of killing pytest."""
import json
import subprocess
import sys

import numpy as np
import pytest

from cnn_ext import functional as F

f32 = np.float32
X = np.zeros((2, 3, 8, 8), f32)
W = np.zeros((4, 3, 3, 3), f32)

# (id, callable source, exception type, regex the message must match)
KERNEL_CASES = [
    ("missing_channel_axis", "F.conv2d(np.zeros((64, 28, 28), f32), W)", ValueError,
     r"x must be 4-D \(N, C, H, W\); got shape \(64, 28, 28\).*x\[:, None\]"),
    ("channel_mismatch", "F.conv2d(np.zeros((2, 1, 8, 8), f32), W)", ValueError,
     r"expects 3 input channels, got x with 1 channels"),
    ("kernel_larger_than_padded_input", "F.conv2d(np.zeros((1, 3, 2, 8), f32), W)", ValueError,
     r"kernel height 3 .* larger than the padded input height 2"),
    ("stride_zero", "F.conv2d(X, W, stride=0)", ValueError, r"stride must be >= 1; got 0"),
    ("dilation_zero", "F.conv2d(X, W, dilation=(1, 0))", ValueError, r"dilation must be >= 1"),
    ("negative_padding", "F.conv2d(X, W, padding=-1)", ValueError, r"padding must be >= 0; got -1"),
    ("float_stride", "F.conv2d(X, W, stride=1.5)", TypeError, r"stride must be an int or a pair"),
    ("weight_wrong_ndim", "F.conv2d(X, np.zeros((4, 3, 3), f32))", ValueError,
     r"weight must be 4-D \(out_channels, in_channels, kh, kw\); got shape \(4, 3, 3\)"),
    ("bias_wrong_shape", "F.conv2d(X, W, np.zeros(3, f32))", ValueError,
     r"bias must have shape \(4,\).*got \(3,\)"),
    ("object_array", "F.conv2d(np.empty((2, 3, 8, 8), object), W)", TypeError,
     r"x must have a real numeric dtype.*object"),
    ("string_array", "F.conv2d(np.full((2, 3, 8, 8), 'a'), W)", TypeError,
     r"x must have a real numeric dtype"),
    ("complex_array", "F.conv2d(X.astype(complex), W)", TypeError, r"real numeric dtype"),
    ("empty_batch", "F.conv2d(np.zeros((0, 3, 8, 8), f32), W)", ValueError, r"empty batch"),
    ("pool_window_larger_than_input", "F.max_pool2d(np.zeros((1, 1, 2, 2), f32), 3, padding=0)",
     ValueError, r"pooling window height 3 is larger than the padded input"),
    ("pool_padding_too_large", "F.max_pool2d(X, 2, padding=2)", ValueError,
     r"padding \(2, 2\) must be at most half the kernel_size"),
    ("avg_pool_stride_zero", "F.avg_pool2d(X, 2, stride=0)", ValueError, r"stride must be >= 1"),
    ("pool_missing_channel_axis", "F.max_pool2d(np.zeros((8, 8), f32), 2)", ValueError,
     r"x must be 4-D.*x\[None, None\]"),
    ("grad_output_wrong_shape", "F.conv2d_backward(X, W, np.zeros((2, 4, 5, 5), f32))", ValueError,
     r"grad_output must have the output's shape \(2, 4, 6, 6\); got \(2, 4, 5, 5\)"),
    ("max_pool_indices_out_of_range",
     "F.max_pool2d_backward(np.zeros((1, 1, 2, 2), f32), np.full((1, 1, 2, 2), 99), (1, 1, 4, 4))",
     ValueError, r"indices must lie in \[0, 16\)"),
    ("max_pool_indices_wrong_shape",
     "F.max_pool2d_backward(np.zeros((1, 1, 2, 2), f32), np.zeros((1, 1, 3, 2), int), (1, 1, 4, 4))",
     ValueError, r"indices shape .* must equal grad_output shape"),
    ("max_pool_indices_float",
     "F.max_pool2d_backward(np.zeros((1, 1, 2, 2), f32), np.zeros((1, 1, 2, 2)), (1, 1, 4, 4))",
     TypeError, r"indices must be an integer array"),
    ("avg_pool_backward_bad_shape", "F.avg_pool2d_backward(np.zeros((1, 1, 3, 3), f32), (1, 1, 4, 4), 2)",
     ValueError, r"grad_output must have the output's shape \(1, 1, 2, 2\)"),
    ("backward_input_bad_input_shape", "F.conv2d_backward_input(np.zeros((1, 4, 6, 6), f32), W, (1, 3, 8))",
     ValueError, r"input_shape must be 4 positive sizes"),
]


@pytest.mark.kernel
@pytest.mark.parametrize("case", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
def test_kernel_level_bad_input(case):
    _, src, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        eval(src, {"F": F, "np": np, "f32": f32, "X": X, "W": W})


CHILD = r"""
import json, sys
import numpy as np
import cnn_ext
from cnn_ext import functional as F
cnn_ext.set_backend(sys.argv[1])
f32 = np.float32
X = np.zeros((2, 3, 8, 8), f32); W = np.zeros((4, 3, 3, 3), f32)
for name, src in json.loads(sys.stdin.read()):
    print(name, flush=True)
    try:
        eval(src)
        print("NO-ERROR", flush=True)
    except Exception as exc:
        print(type(exc).__name__, flush=True)
print("DONE", flush=True)
"""


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["cython", "numpy"])
def test_kernel_level_bad_input_in_child_process(name):
    from conftest import BACKENDS, run_python
    if name not in BACKENDS:
        pytest.skip("compiled backend not built")
    payload = json.dumps([(c[0], c[1]) for c in KERNEL_CASES])
    proc = run_python(["-c", CHILD, name], input=payload, timeout=300)
    lines = proc.stdout.split()
    assert proc.returncode == 0, f"child crashed (rc={proc.returncode}) after {lines[-1:]}: {proc.stderr[-2000:]}"
    assert lines[-1] == "DONE"
    got = dict(zip(lines[0:-1:2], lines[1:-1:2]))
    for case_name, _, exc, _ in KERNEL_CASES:
        assert got[case_name] == exc.__name__, case_name


def test_nan_inf_inputs_propagate_through_pools():
    x = np.array([[[[np.nan, 1.0], [np.inf, -np.inf]]]], f32)
    assert np.isnan(F.max_pool2d(x, 2)).all()
    assert np.isnan(F.avg_pool2d(x, 2)).all()


# --- layer-, loss- and optimizer-level cases ----------------------------------------------

import cnn_ext  # noqa: E402
from cnn_ext import nn, optim  # noqa: E402


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match=r"Linear expects 10 input features, got 7"):
        nn.Linear(10, 2)(np.zeros((3, 7), f32))
    with pytest.raises(ValueError, match=r"Linear: input must be 2-D \(N, in_features\); got shape \(3, 2, 5\)"):
        nn.Linear(10, 2)(np.zeros((3, 2, 5), f32))


def test_batchnorm_channel_mismatch():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 16 channels \(num_features=16\); got input of shape \(2, 8, 4, 4\)"):
        nn.BatchNorm2d(16)(np.zeros((2, 8, 4, 4), f32))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected more than 1 value per channel"):
        nn.BatchNorm1d(4)(np.zeros((1, 4), f32))


def test_conv_layer_messages():
    with pytest.raises(ValueError, match=r"Conv2d: expected input with 3 channels \(in_channels=3\); got 1"):
        nn.Conv2d(3, 8, 3)(np.zeros((2, 1, 8, 8), f32))
    with pytest.raises(ValueError, match=r"Conv2d: input must be 4-D .*add a channel axis"):
        nn.Conv2d(1, 8, 3)(np.zeros((2, 8, 8), f32))
    with pytest.raises(ValueError, match=r"Conv2d: out_channels must be a positive int; got 0"):
        nn.Conv2d(1, 0, 3)
    with pytest.raises(ValueError, match=r"MaxPool2d: window height 3 is larger than the input height 2"):
        nn.MaxPool2d(3)(np.zeros((1, 1, 2, 2), f32))


@pytest.mark.parametrize("labels,exc,match", [
    (np.array([0, 1, 10]), ValueError, r"target labels must be in \[0, 9\] for 10 classes; got 10"),
    (np.array([0, -1, 2]), ValueError, r"must be in \[0, 9\] .* got -1"),
    (np.array([0, 1]), ValueError, r"target must have shape \(3,\) \(one label per row of logits \(3, 10\)\); got \(2,\)"),
    (np.array([0.0, 1.0, 2.0]), TypeError, r"target must hold integer class labels"),
    (np.array([[0], [1], [2]]), ValueError, r"target must have shape \(3,\)"),
])
def test_labels(labels, exc, match):
    with pytest.raises(exc, match=match):
        nn.CrossEntropyLoss()(np.zeros((3, 10), f32), labels)


def test_state_dict_problems():
    m = cnn_ext.lenet5()
    sd = m.state_dict()
    missing = {k: v for k, v in sd.items() if k != "0.bias"}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0.bias"'):
        m.load_state_dict(missing)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "bogus"'):
        m.load_state_dict({**sd, "bogus": np.zeros(1)})
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight: copying a param with shape \(6, 1, 3, 3\)"):
        m.load_state_dict({**sd, "0.weight": np.zeros((6, 1, 3, 3))})
    m.load_state_dict(missing, strict=False)  # strict=False tolerates what is absent
    with pytest.raises(TypeError, match="expected a mapping"):
        m.load_state_dict([1, 2])


def test_backward_before_forward_and_empty_optimizer():
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        nn.Linear(2, 2).backward(np.zeros((1, 2), f32))
    with pytest.raises(RuntimeError, match="CrossEntropyLoss.backward called before"):
        nn.CrossEntropyLoss().backward()
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD(nn.ReLU().parameters(), lr=0.1)
    with pytest.raises(TypeError, match="params must be cnn_ext.nn.Parameter"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match=r"lr must be >= 0"):
        optim.SGD(cnn_ext.lenet5().parameters(), lr=-1)


def test_layer_nan_inputs_propagate_without_crashing():
    m = cnn_ext.fashion_cnn()
    x = np.zeros((2, 1, 28, 28), f32)
    x[0, 0, 3, 3] = np.nan
    x[1, 0, 5, 5] = np.inf
    y = m(x)
    assert y.shape == (2, 10) and np.isnan(y).any()


def test_object_and_string_inputs_to_layers():
    with pytest.raises(TypeError, match=r"Conv2d: input must have a real numeric dtype"):
        nn.Conv2d(1, 2, 3)(np.array([["a"]]))
    with pytest.raises(TypeError, match=r"Linear: input must be a numeric array|real numeric dtype"):
        nn.Linear(2, 2)(np.array([[object(), object()]], dtype=object))
