"""Issue #20, interrupts: Ctrl-C or SIGTERM while scipy's k-NN worker threads run (rendering a big cloud)
ends in the one line and exit 130 / 143, never a segmentation fault; an unreachable Ray address is one line
within 30 s."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, assert_error
from zerops.signals import signals_deferred


@pytest.fixture
def ctrl_c():
    """Python's Ctrl-C handler for the test, whatever the suite was started with (a background job or nohup
    starts it with SIGINT ignored); the caller's handler is put back afterwards."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _sigint_default() -> None:
    """preexec_fn: the child starts with SIGINT at its default, so Python installs its Ctrl-C handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_signals_deferred_acts_on_the_signal_after_the_block(ctrl_c):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)                   # the handler has run by now: it only recorded the signal
            done.append("the block finished")
    assert done == ["the block finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signals_deferred_calls_the_installed_handler():
    seen = []
    old = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert seen == []
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


def test_knn_results_do_not_depend_on_the_chunks(monkeypatch):
    import zerops.geometry.pointops as pointops

    xyz = np.random.default_rng(0).normal(size=(3000, 3))
    whole = pointops.knn(xyz, 8)
    monkeypatch.setattr(pointops, "_KNN_CHUNK", 700)
    chunked = pointops.knn(xyz, 8)
    np.testing.assert_array_equal(whole[1], chunked[1])
    np.testing.assert_array_equal(whole[0], chunked[0])


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_during_the_knn_of_a_big_render_is_one_line(tmp_path, sig, code, word):
    """The signal arrives while scipy's query threads run (the script waits for the first chunk to start)."""
    cloud = tmp_path / "big.npy"
    np.save(cloud, np.random.default_rng(0).normal(size=(600_000, 3)).astype(np.float32))
    ready = tmp_path / "ready"
    script = (
        "import sys, signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import scipy.spatial, zerops.geometry.pointops as P\n"
        "real = scipy.spatial.cKDTree.query\n"
        "class Tree(scipy.spatial.cKDTree):\n"
        "    def query(self, *a, **k):\n"
        "        open(sys.argv[2], 'w').close()\n"
        "        return real(self, *a, **k)\n"
        "P.cKDTree = Tree\n"
        "P._KNN_CHUNK = 1 << 16\n"
        "from zerops.cli import main\n"
        "sys.exit(main(['render', sys.argv[1], '--out', sys.argv[3], '--image-size', '16', '--views', 'partslip10']))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-c", script, str(cloud), str(ready), str(tmp_path / "out")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not ready.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"zerops: {word} (nothing was written)"]
    assert not (tmp_path / "out").exists()


_SLOW_METHOD = '''
import os, time
from pathlib import Path
from zerops.eval.baselines import oracle

def make():
    run = oracle()
    def slow(shape):
        Path(os.environ["ZEROPS_TEST_READY"]).joinpath(f"{os.getpid()}").touch()
        time.sleep(60)
        return run(shape)
    return slow
'''


def test_ctrl_c_during_eval_workers_prints_one_line(tmp_path):
    from conftest import one_shape_dataset
    from zerops.eval.synthetic import write_benchmark

    one_shape_dataset(tmp_path / "data", n=300)
    write_benchmark(tmp_path / "data", per_category=2, seed=0, categories=["Table"], n_points=300, progress=False)
    (tmp_path / "slowmethod_zerops.py").write_text(_SLOW_METHOD)
    ready = tmp_path / "ready"
    ready.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(tmp_path)]),
               ZEROPS_TEST_READY=str(ready))
    proc = subprocess.Popen([sys.executable, "-m", "zerops", "eval", str(tmp_path / "data"), "--out",
                             str(tmp_path / "ev"), "--method", "slowmethod_zerops:make", "--workers", "2", "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_sigint_default)
    try:
        deadline = time.time() + 60
        while len(list(ready.iterdir())) < 2:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)        # as a terminal's Ctrl-C: the whole process group
        _, err = proc.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    kept = tmp_path / "ev" / "shapes"
    assert err.strip().splitlines() == [f"zerops: interrupted (finished shapes are kept in {kept}; "
                                        "rerun to resume)"], err
    for pid in (int(p.name) for p in ready.iterdir()):           # no worker left running
        deadline = time.time() + 10
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                            # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def test_unreachable_ray_address_is_one_line_within_30_s(tmp_path):
    pytest.importorskip("ray")
    from conftest import one_shape_dataset, run_subprocess

    one_shape_dataset(tmp_path / "data", n=300)
    t0 = time.time()
    proc = run_subprocess(["eval", tmp_path / "data", "--out", tmp_path / "ev", "--method", "oracle", "--ray",
                           "127.0.0.1:1", "--quiet"], timeout=30)
    assert time.time() - t0 < 30
    assert_error(proc.returncode, proc.stderr, "--ray 127.0.0.1:1", "nothing answers there", "ray start --head")
