"""Input and output: the point-cloud model, file readers, mesh sampling, atomic writers, result folders.

``load_cloud(path)`` reads any supported file; ``write_json`` / ``write_npz`` / ``write_cloud_ply`` write
atomically. Modules inside zerops import from the defining module, never from this package.
"""
from zerops.io.cloud import PointCloud, cloud_from_array, make_cloud, validate_cloud
from zerops.io.files import atomic_path, json_dumps, write_bytes, write_json, write_npz
from zerops.io.load import as_cloud, load_cloud
from zerops.io.palette import UNLABELED_GRAY, part_colors, part_palette
from zerops.io.ply import ply_bytes, write_cloud_ply, write_result_ply

__all__ = ["PointCloud", "cloud_from_array", "make_cloud", "validate_cloud", "atomic_path", "json_dumps",
           "write_bytes", "write_json", "write_npz", "as_cloud", "load_cloud", "UNLABELED_GRAY", "part_colors",
           "part_palette", "ply_bytes", "write_cloud_ply", "write_result_ply"]
