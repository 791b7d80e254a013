"""Benchmarks of the installed cnn_ext (see cnn_ext/bench.py; same as `cnn-ext bench`).

    python python/bench.py [--threads 2] [--batches 64,256] [--parts sgemm,ops,step,rss] [--json out.json]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python python/bench.py
"""
import sys

from cnn_ext.bench import main

if __name__ == "__main__":
    sys.exit(main())
