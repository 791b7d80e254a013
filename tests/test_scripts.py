"""The scripts in python/ run (short versions) and print their figures."""
import os

import pytest

from conftest import BACKENDS, run_python

PY = os.path.join(os.path.dirname(__file__), "..", "python")
FASHION = "/usr/share/datasets/fashion-mnist"


def _script(name):
    return os.path.abspath(os.path.join(PY, name))


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs the compiled backend")
def test_compare_backends_script():
    r = run_python([_script("compare_backends.py"), "--batch", "4", "--repeats", "1"], timeout=300)
    assert r.returncode == 0, r.stderr
    assert "conv2 32->64 14x14 bwd" in r.stdout and "numpy/compiled" in r.stdout


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs the compiled backend")
def test_bench_script_smoke(tmp_path):
    out = tmp_path / "b.json"
    r = run_python([_script("bench.py"), "--parts", "ops,step", "--batches", "4", "--repeats", "1",
                    "--step-repeats", "1", "--step-block", "1", "--json", str(out)], timeout=600)
    assert r.returncode == 0, r.stderr
    assert "SGEMM" in r.stdout and "whole training step" in r.stdout and out.exists()


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs the compiled backend")
def test_bench_fresh_process_part(tmp_path):
    out = tmp_path / "b.json"
    r = run_python([_script("bench.py"), "--parts", "rss", "--rss-steps", "12", "--rss-rounds", "2",
                    "--no-torch", "--json", str(out)], timeout=600)
    assert r.returncode == 0, r.stderr
    import json
    res = json.loads(out.read_text())["fresh_process"]
    for impl in ("compiled", "numpy"):
        assert len(res[impl]["images_per_s_rounds"]) == 2
        assert res[impl]["images_per_s"] > 0 and res[impl]["peak_rss_mib"] > 20
    assert "alone in a fresh process" in r.stdout


def test_fuzz_script_smoke():
    r = run_python([_script("fuzz.py"), "--cases", "100", "--batch", "50"], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cases 100" in r.stdout and "crashes 0" in r.stdout


@pytest.mark.skipif(not os.path.exists(FASHION) and os.environ.get("CI") != "true",
                    reason="dataset-fashion-mnist not installed (CI installs it)")
def test_soak_script_smoke():
    r = run_python([_script("soak.py"), "--epochs", "4", "--subset", "512"], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "growth" in r.stdout
