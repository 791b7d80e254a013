"""The ablation-study runner on a tiny subset: two variants, one epoch, resume."""
import json
import os

import pytest

from cnn_ext import study

def test_default_grid_is_valid():
    variants = study.load_config()
    names = [v["name"] for v in variants]
    assert len(names) == len(set(names)) >= 15
    assert "lenet5 base" in names and "lenet5 +BatchNorm" in names and "lenet5 lr 1e-2" in names
    base = next(v for v in variants if v["name"] == "lenet5 base")
    assert base["model_args"] == {"batch_norm": False, "dropout": 0.0} and base["weight_decay"] == 0


def test_study_runs_and_resumes(tmp_path, mnist_root):
    out = tmp_path / "study"
    logs = []
    only = ["lenet5 base", "lenet5 lr 1e-2"]
    rows = study.run_study(str(out), dataset="mnist", epochs=1, subset=300, seeds=1, only=only,
                           data_root=mnist_root, log=logs.append)
    assert [r["variant"] for r in rows] == only
    for r in rows:
        assert 0.0 <= r["final_mean"] <= 1.0 and r["seeds"] == 1
    assert (out / "study.md").exists() and (out / "study.json").exists()
    md = (out / "study.md").read_text()
    assert "| lenet5 base |" in md and "final test acc" in md
    saved = json.loads((out / "study.json").read_text())
    assert len(saved["runs"]) == 2 and saved["meta"]["epochs"] == 1
    # rerun: both runs are skipped, results identical
    logs2 = []
    rows2 = study.run_study(str(out), dataset="mnist", epochs=1, subset=300, seeds=1, only=only,
                            data_root=mnist_root, log=logs2.append)
    assert sum("done before" in line for line in logs2) == 2
    assert rows2 == rows
    # a removed run is redone, the other kept
    os.remove(out / "runs" / "lenet5_base__seed0.json")
    logs3 = []
    study.run_study(str(out), dataset="mnist", epochs=1, subset=300, seeds=1, only=only,
                    data_root=mnist_root, log=logs3.append)
    assert sum("done before" in line for line in logs3) == 1


def test_diverging_run_is_recorded_not_raised(tmp_path, mnist_root):
    cfg = tmp_path / "grid.json"
    cfg.write_text(json.dumps({"base": {"l": {"model": "lenet5", "lr": 1e6, "optimizer": "sgd",
                                               "model_args": {"activation": "relu"}}},
                               "variants": [{"name": "explodes", "base": "l"}]}))
    rows = study.run_study(str(tmp_path / "s"), dataset="mnist", epochs=2, subset=300, seeds=1,
                           config=str(cfg), data_root=mnist_root, log=lambda s: None)
    assert rows[0]["diverged"] == 1
    assert "diverged" in (tmp_path / "s" / "study.md").read_text()


def test_unknown_variant_and_bad_config(tmp_path, mnist_root):
    with pytest.raises(ValueError, match="unknown variant"):
        study.run_study(str(tmp_path), dataset="mnist", only=["nope"], data_root=mnist_root)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"variants": [{"name": "x", "model": "resnet"}]}))
    with pytest.raises(ValueError, match="model must be lenet5 or fashion_cnn"):
        study.load_config(str(bad))
