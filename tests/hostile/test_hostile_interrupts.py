"""Issue #20, interrupts: Ctrl-C or SIGTERM while scipy's k-NN worker threads run (rendering a big cloud)
ends in the one line and exit 130 / 143, never a segmentation fault; an unreachable Ray address is one line
within 30 s."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, assert_error

from zerops.signals import signals_deferred


def test_signals_deferred_acts_on_the_signal_after_the_block():
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
