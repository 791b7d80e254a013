"""Kernel backends with identical function sets: `cython_backend` (compiled) and
`numpy_backend` (pure NumPy). Both expect validated, C-contiguous float32/float64 arrays;
cnn_ext.functional and cnn_ext.nn do the validation."""
