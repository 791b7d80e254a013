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
