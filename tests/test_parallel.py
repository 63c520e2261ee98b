"""Parallel evaluation: worker processes give the sequential report; a dying worker is retried."""
from __future__ import annotations

from pathlib import Path

import pytest

from zerops.errors import ZeropsError
from zerops.eval.harness import run_eval
from zerops.eval.synthetic import write_benchmark

TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    write_benchmark(root, per_category=3, seed=5, categories=["Chair", "Bucket"], n_points=2000)
    return root


def _strip(report):
    return {k: v for k, v in report.items() if k not in ("run",)}


def test_workers_give_the_sequential_report_and_survive_a_dying_worker(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", TESTS)          # spawned workers import tests/fakes.py
    monkeypatch.syspath_prepend(TESTS)
    seq = run_eval(bench, tmp_path / "seq", method="components", progress=False)
    par = run_eval(bench, tmp_path / "par", method="components", progress=False, workers=2)
    for r in (seq, par):
        for row in list(r["per_category"].values()) + [r["overall"]]:
            row.pop("seconds_per_shape", None)
    assert _strip(par)["per_category"] == _strip(seq)["per_category"]
    assert par["overall"] == seq["overall"] and par["run"]["computed"] == 6
    # a worker killed mid-run: its shape is retried in a fresh pool, the report is the same
    marker = tmp_path / "died"
    dying = run_eval(bench, tmp_path / "dying", method="fakes:dying_components", progress=False, workers=2,
                     method_options={"die_marker": str(marker)})
    assert marker.read_text() == "died"
    for row in list(dying["per_category"].values()) + [dying["overall"]]:
        row.pop("seconds_per_shape", None)
    assert dying["overall"] == seq["overall"] and dying["run"]["computed"] == 6
    # resume after a parallel run: nothing recomputed
    again = run_eval(bench, tmp_path / "par", method="components", progress=False, workers=2)
    assert again["run"] == {"computed": 0, "reused": 6}
    with pytest.raises(ZeropsError):
        run_eval(bench, tmp_path / "x", method="components", progress=False, workers=0)


def test_ray_local_instance_gives_the_sequential_report(bench, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", TESTS)
    seq = run_eval(bench, tmp_path / "seq", method="components", progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": TESTS}})
    try:
        par = run_eval(bench, tmp_path / "ray", method="components", progress=False, ray="")
    finally:
        ray.shutdown()
    for r in (seq, par):
        for row in list(r["per_category"].values()) + [r["overall"]]:
            row.pop("seconds_per_shape", None)
    assert par["per_category"] == seq["per_category"] and par["overall"] == seq["overall"]
    assert par["run"]["computed"] == 6


def test_workers_are_pinned_to_gpus_round_robin(monkeypatch):
    import multiprocessing as mp
    import os

    from zerops.eval import parallel

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.setenv("ZEROPS_THREADS", "")           # restored after the test, as are the others
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    torch = pytest.importorskip("torch")
    calls: list[int] = []                              # what each worker asks torch for (not applied here)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    assert parallel.cuda_devices() == [3, 5]
    counter = mp.get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(3):
        parallel._init_worker(2, counter, [3, 5])
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["3", "5", "3"] and os.environ["ZEROPS_THREADS"] == "2"
    assert calls == [2, 2, 2]                           # every worker limits torch to its share of the cores
