"""Where model bundles are kept and found, offline (docs/MODELS.md).

The repository holds **one** bundle, the current release, in ``data/model/``.  Earlier
releases are not in the repository: each is a release asset, listed in the registry
``data/model/registry.json`` (name, version, weights sha256, size, where to get it).
Nothing here downloads: a bundle is loaded from a path, or by name from the folders of
``LANDCOVER_MODELS`` (``os.pathsep``-separated) and then ``data/model/``.

A bundle is found as ``NAME.safetensors`` beside ``NAME.json``, directly in a folder or
one folder down (``LANDCOVER_MODELS/landcover-default-0.9.0/landcover-default.json``).
Only the sidecars are read here (no torch): :func:`landcover.model.load_bundle` checks
the weights' hash when a bundle is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .model import sha256_file

__all__ = [
    "MODELS_ENV",
    "REPO_MODELS",
    "REGISTRY",
    "BundleInfo",
    "RegistryEntry",
    "model_dirs",
    "find_bundles",
    "read_registry",
    "resolve_bundle",
]

#: folders of extra bundles, ``os.pathsep``-separated, searched before the repository's
MODELS_ENV = "LANDCOVER_MODELS"
#: the repository's model folder: the one current bundle
REPO_MODELS: Path = Path(__file__).resolve().parent.parent / "data" / "model"
#: the registry of released bundles
REGISTRY: Path = REPO_MODELS / "registry.json"


@dataclass(frozen=True)
class BundleInfo:
    """A bundle found on this machine (from its sidecar; ``verified`` from its weights).

    ``verified`` is True when the weights' sha256 is the sidecar's, False when not, None
    when not checked.
    """

    name: str
    version: str
    weights_sha256: str
    sidecar: Path
    size_bytes: int
    folder: Path
    verified: bool | None = None

    @property
    def ref(self) -> str:
        """``NAME@VERSION``, as ``model:`` and ``--model`` accept it."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class RegistryEntry:
    """A released bundle as the registry lists it."""

    name: str
    version: str
    weights_sha256: str
    size_bytes: int
    status: str
    source: str
    #: :func:`landcover.model.map_keys` of the release, by product level: what a
    #: monitoring job started with it compares a later model with (``{}``: not listed)
    map_keys: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def model_dirs() -> list[Path]:
    """The folders searched for bundles: ``$LANDCOVER_MODELS``'s, then ``data/model/``."""
    env = os.environ.get(MODELS_ENV, "")
    dirs = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return [*dirs, REPO_MODELS]


def _sidecar(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(d, dict) or not {"name", "version", "weights_sha256"} <= set(d):
        return None
    return d


def find_bundles(dirs: Sequence[str | os.PathLike] | None = None, *,
                 verify: bool = False) -> list[BundleInfo]:
    """Bundles in ``dirs`` (default :func:`model_dirs`), in search order.

    Parameters
    ----------
    dirs
        Folders to search (missing ones are skipped).
    verify
        Hash each bundle's weights and compare with its sidecar (reads every file).

    Returns
    -------
    list of BundleInfo
        Files that are not bundle sidecars (the registry, other JSON) are left out.
    """
    found = []
    seen: set[Path] = set()
    for folder in (Path(d) for d in (model_dirs() if dirs is None else dirs)):
        if not folder.is_dir():
            continue
        for weights in sorted([*folder.glob("*.safetensors"), *folder.glob("*/*.safetensors")]):
            sidecar = weights.with_suffix(".json")
            key = sidecar.resolve()
            d = _sidecar(sidecar) if sidecar.is_file() else None
            if d is None or key in seen:
                continue
            seen.add(key)
            ok = sha256_file(weights) == d["weights_sha256"] if verify else None
            found.append(BundleInfo(
                name=str(d["name"]), version=str(d["version"]),
                weights_sha256=str(d["weights_sha256"]), sidecar=sidecar,
                size_bytes=weights.stat().st_size + sidecar.stat().st_size,
                folder=folder, verified=ok))
    return found


def read_registry(path: str | os.PathLike | None = None) -> list[RegistryEntry]:
    """The released bundles the registry lists (:data:`REGISTRY` by default).

    Raises
    ------
    ModelError
        If the registry is not valid JSON or an entry lacks a key.
    """
    p = Path(path) if path is not None else REGISTRY
    if not p.is_file():
        return []
    try:
        entries = json.loads(p.read_text())["models"]
        return [RegistryEntry(name=e["name"], version=e["version"],
                              weights_sha256=e["weights_sha256"],
                              size_bytes=int(e["size_bytes"]), status=e["status"],
                              source=e["source"], map_keys=dict(e.get("map_keys", {})))
                for e in entries]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelError(f"model registry {p} is not valid ({exc}); fix it "
                         "(see docs/MODELS.md)") from None


def _version_key(version: str) -> tuple:
    """Sortable: numeric parts before text parts at each position (``1.0.0rc1`` < ``1.0.0``
    is not claimed; only that any two versions compare without an error)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in version.replace("-", ".").split("."))


def resolve_bundle(ref: str, dirs: Sequence[str | os.PathLike] | None = None) -> Path:
    """The sidecar of the bundle ``NAME`` or ``NAME@VERSION``, found offline.

    ``NAME`` alone is the first found in search order (``$LANDCOVER_MODELS`` before
    the repository), the highest version within a folder.

    Raises
    ------
    ModelError
        If no bundle found has that name (and version); the message lists those found
        and, for a released version, where to get it.

    Examples
    --------
    >>> resolve_bundle("landcover-default@1.0.0").name  # doctest: +SKIP
    'landcover-default.json'
    """
    name, _, version = ref.partition("@")
    found = find_bundles(dirs)
    match = [b for b in found if b.name == name and (not version or b.version == version)]
    if match:
        first_folder = match[0].folder
        same = [b for b in match if b.folder == first_folder]
        return max(same, key=lambda b: _version_key(b.version)).sidecar
    have = ", ".join(b.ref for b in found) or "none"
    hint = f"put its bundle in a folder of ${MODELS_ENV}"
    for e in read_registry():
        if e.name == name and (not version or e.version == version):
            hint = f"get it from {e.source} into a folder of ${MODELS_ENV}"
            break
    raise ModelError(f"model {ref!r} not found (bundles here: {have}); {hint}, or give the "
                     "path of its .json")
