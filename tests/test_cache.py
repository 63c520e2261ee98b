"""Stage cache: keys, round trips, eviction, and a pipeline rerun that skips SAM."""
from __future__ import annotations

import numpy as np
import pytest

from zerops.cache import StageCache, array_digest, pack_groups, stage_key, unpack_groups
from zerops.config import GroupingConfig, preset
from zerops.errors import ZeropsError


def test_keys_change_with_every_input():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    base = stage_key("groups", array_digest(a), GroupingConfig(), "embedded")
    assert base == stage_key("groups", array_digest(a.copy()), GroupingConfig(), "embedded")
    assert base != stage_key("groups", array_digest(a + 1e-6), GroupingConfig(), "embedded")
    assert base != stage_key("groups", array_digest(a), GroupingConfig(n_prompts=64), "embedded")
    assert base != stage_key("groups", array_digest(a), GroupingConfig(), "hf:facebook/sam-vit-huge")
    assert base != stage_key("extended", array_digest(a), GroupingConfig(), "embedded")
    assert array_digest(a) != array_digest(a.astype(np.float64))      # dtype is part of the digest
    assert array_digest(a, None) != array_digest(a)


def test_groups_round_trip_and_lru_eviction(tmp_path):
    groups = {"a": [np.array([1, 2, 3]), np.array([7])], "b": [], "c": [np.array([0, 5])]}
    back = unpack_groups(pack_groups(groups))
    assert list(back) == ["a", "b", "c"]
    assert [g.tolist() for g in back["a"]] == [[1, 2, 3], [7]] and back["b"] == []
    cache = StageCache(tmp_path, max_gb=1)
    assert cache.get("groups", "ab" * 32) is None and cache.misses == 1
    cache.put("groups", "ab" * 32, pack_groups(groups))
    got = cache.get("groups", "ab" * 32)
    assert cache.hits == 1 and [g.tolist() for g in unpack_groups(got)["c"]] == [[0, 5]]
    # eviction: a limit that holds about two entries keeps the two most recently used
    big = {"x": np.zeros(50_000, np.float64)}                       # ~400 kB each
    small = StageCache(tmp_path / "lru", max_gb=0.00085)
    import os
    import time
    for i, key in enumerate(["11" * 32, "22" * 32, "33" * 32]):
        small.put("s", key, big)
        os.utime(small.path("s", key), (time.time() - 100 + i, time.time() - 100 + i))
    assert small.get("s", "11" * 32) is None and small.get("s", "33" * 32) is not None
    info = small.info()
    assert info["entries"] == 2 and info["stages"]["s"]["entries"] == 2
    assert small.clear() == 2 and small.info()["entries"] == 0
    with pytest.raises(ZeropsError):
        StageCache(tmp_path, max_gb=0)


def test_corrupt_entry_is_a_miss(tmp_path):
    cache = StageCache(tmp_path)
    path = cache.path("groups", "cd" * 32)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    assert cache.get("groups", "cd" * 32) is None


def test_pipeline_rerun_with_other_merging_skips_sam(tmp_path):
    from fakes import ColorRegionSegmenter
    from zerops.eval.synthetic import generate_shape
    from zerops.pipeline import ZeroPS

    shape = generate_shape("Table", seed=1, n_points=3000)
    cloud = np.concatenate([shape.xyz, shape.rgb], axis=1)
    cfg = preset("fast").with_overrides(**{"render.image_size": 256, "grouping.min_mask_area": 20})
    seg = ColorRegionSegmenter()
    cache = StageCache(tmp_path)
    first = ZeroPS(cfg, segmenter=seg, progress=False, cache=cache).segment(cloud)
    assert first.cached == [] and first.decodes > 0
    again = ZeroPS(cfg, segmenter=seg, progress=False, cache=cache).segment(cloud)
    assert again.cached == ["extended"] and again.decodes == 0
    assert np.array_equal(again.part, first.part)
    assert again.counts["decodes_groups"] == first.counts["decodes_groups"]
    # a merging-only change reuses the extended groups; no extension reuses the initial groups
    other = ZeroPS(cfg.with_overrides(**{"merging.iou_threshold": 0.5}), segmenter=seg, progress=False,
                   cache=cache).segment(cloud)
    assert other.cached == ["extended"] and other.decodes == 0
    no_ext_cfg = cfg.with_overrides(**{"extension.enabled": False})
    cached_no_ext = ZeroPS(no_ext_cfg, segmenter=seg, progress=False, cache=cache).segment(cloud)
    fresh_no_ext = ZeroPS(no_ext_cfg, segmenter=seg, progress=False).segment(cloud)
    assert cached_no_ext.cached == ["groups"] and cached_no_ext.decodes == 0
    assert np.array_equal(cached_no_ext.part, fresh_no_ext.part)
    # another grouping setting is another key: computed again
    more = ZeroPS(cfg.with_overrides(**{"grouping.n_prompts": 32}), segmenter=seg, progress=False,
                  cache=cache).segment(cloud)
    assert more.cached == [] and more.decodes > 0


def test_cache_cli_info_and_clear(tmp_path, capsys):
    from zerops.cli import main

    cache = StageCache(tmp_path)
    cache.put("groups", "ab" * 32, {"x": np.zeros(10)})
    cache.put("boxes", "cd" * 32, {"x": np.zeros(10)})
    assert main(["cache", "info", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 entries" in out and "groups" in out and "boxes" in out
    assert main(["cache", "clear", "--cache", str(tmp_path), "--stage", "boxes"]) == 0
    assert "deleted 1" in capsys.readouterr().out
    assert cache.info()["stages"] == {"groups": {"entries": 1, "bytes": cache.info()["bytes"]}}


def test_image_embeddings_are_cached_per_view(tmp_path):
    """A grouping change recomputes the groups but not the views' embeddings."""
    from fakes import ColorRegionSegmenter
    from zerops.eval.synthetic import generate_shape
    from zerops.pipeline import ZeroPS

    class Exportable(ColorRegionSegmenter):
        supports_embedding_cache = True
        encoded = 0

        def _encode_with(self, images, given, progress):
            Exportable.encoded += sum(g is None for g in given)
            self._images = [img if g is None else np.asarray(g, np.uint8) for img, g in zip(images, given)]

        def _encode(self, images, progress):
            self._encode_with(images, [None] * len(images), progress)

        def embedding(self, view):
            return self._images[view]

    shape = generate_shape("Table", 1, n_points=2000)
    cloud = np.concatenate([shape.xyz, shape.rgb], axis=1)
    cfg = preset("fast").with_overrides(**{"render.image_size": 128, "grouping.min_mask_area": 10})
    cache = StageCache(tmp_path)
    first = ZeroPS(cfg, segmenter=Exportable(), progress=False, cache=cache).segment(cloud)
    assert Exportable.encoded == 20 and cache.info()["stages"]["embeddings"]["entries"] == 20
    second = ZeroPS(cfg.with_overrides(**{"grouping.n_prompts": 32}), segmenter=Exportable(), progress=False,
                    cache=cache).segment(cloud)
    assert Exportable.encoded == 20 and second.cached == [] and second.decodes > 0
    again = ZeroPS(cfg, segmenter=Exportable(), progress=False, cache=cache).segment(cloud)
    assert np.array_equal(again.part, first.part)
    # oracle:choice over the same model reuses its encodes (keyed by the inner model's name)
    from zerops.segmenters.choice import ChoiceSegmenter

    middle = ZeroPS(cfg, segmenter=ChoiceSegmenter("choice-middle", inner=Exportable()), progress=False,
                    cache=cache).segment(cloud)
    assert Exportable.encoded == 20 and middle.decodes > 0
