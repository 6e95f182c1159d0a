"""Which tinytorch a checkpoint is built from: the reference package here, or another one.

    MATRIX_IMPL=/path/to/learner nox -s module03      # a folder that contains tinytorch/
    MATRIX_IMPL=/path/to/learner/tinytorch nox -s module03   # or tinytorch/ itself
    nox -s gate -- --base main --impl /path/to/learner

Checkpoint N of another implementation holds that implementation's module files (the paths
matrix/modules.toml lists for modules 01..N, read from its package folder) and OUR skeleton
(tinytorch/__init__.py, _checkpoint.py, core/__init__.py): the skeleton is the checkpoint
mechanics the guard test relies on, not course material, so a learner's copy of it is never
used. Files of the implementation that the manifest does not list are not shipped either.
Everything else (the suites, the guard, the report) is the same as for the reference.

An implementation is named by its package folder and a digest of the module files it has,
so a report always says exactly which code was tested.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from matrix.manifest import PACKAGE_DIR, REPO_ROOT, Manifest

IMPL_ENV = "MATRIX_IMPL"
REFERENCE = "reference"
DIGEST_LENGTH = 12
HOW_TO_POINT = (
    f"point {IMPL_ENV} (or --impl) at the folder that contains {PACKAGE_DIR}/, "
    f"or at {PACKAGE_DIR}/ itself"
)


class ImplError(ValueError):
    """The implementation to test cannot be used; the message says what is missing."""


def package_dir_of(raw: str | Path) -> Path:
    """The package folder a MATRIX_IMPL value means (not checked: see resolve_implementation)."""
    path = Path(raw).expanduser().resolve()
    nested = path / PACKAGE_DIR
    return nested if nested.is_dir() else path


def is_reference(package_dir: Path, root: Path = REPO_ROOT) -> bool:
    return package_dir == (root / PACKAGE_DIR).resolve()


def implementation_key(raw: str | Path) -> str:
    """A folder name for one implementation's wheels and reports: stable for its location.

    Keyed by where the package is, not by its contents, so that a learner's next run replaces
    the previous one instead of piling up beside it.
    """
    package_dir = package_dir_of(raw)
    where = hashlib.sha256(str(package_dir).encode()).hexdigest()[:8]
    return f"{package_dir.parent.name or 'root'}-{where}"


@dataclass(frozen=True)
class Implementation:
    package_dir: Path
    reference: bool

    def source(self, manifest: Manifest, path: str) -> Path:
        """Where the checkpoint file `path` (as the manifest spells it) is read from."""
        if self.reference or path in manifest.skeleton:
            return manifest.root / path
        return self.package_dir / Path(path).relative_to(PACKAGE_DIR)

    @property
    def label(self) -> str:
        return REFERENCE if self.reference else str(self.package_dir)

    @property
    def build_subfolder(self) -> str:
        """Where its checkpoint wheels go under build/checkpoints/ ('' for the reference)."""
        return "" if self.reference else f"impl/{implementation_key(self.package_dir)}"

    def digest(self, manifest: Manifest) -> str:
        """sha256 of the module files this implementation has (path and bytes of each)."""
        digest = hashlib.sha256()
        for path in sorted(path for module in manifest.modules for path in module.files):
            source = self.source(manifest, path)
            if source.is_file():
                digest.update(path.encode() + b"\0" + source.read_bytes() + b"\0")
        return digest.hexdigest()[:DIGEST_LENGTH]

    def require_files(self, manifest: Manifest, number: int) -> None:
        """Stop with one line naming the files checkpoint `number` needs and this one lacks."""
        needed = [path for module in manifest.checkpoint(number) for path in module.files]
        missing = [path for path in needed if not self.source(manifest, path).is_file()]
        if missing:
            raise ImplError(
                f"{self.package_dir} lacks {', '.join(missing)}, which checkpoint {number:02d} "
                f"needs; add the file(s) there, or test an earlier checkpoint"
            )


def reference_implementation(manifest: Manifest) -> Implementation:
    return Implementation(package_dir=(manifest.root / PACKAGE_DIR).resolve(), reference=True)


def resolve_implementation(manifest: Manifest, raw: str | None) -> Implementation:
    """The implementation a MATRIX_IMPL / --impl value names; the reference when empty."""
    if not raw:
        return reference_implementation(manifest)
    given = Path(raw).expanduser()
    if not given.is_dir():
        raise ImplError(f"{IMPL_ENV}={raw}: no such folder; {HOW_TO_POINT}")
    package_dir = package_dir_of(given)
    if is_reference(package_dir, manifest.root):
        return reference_implementation(manifest)
    if not (package_dir / "core").is_dir():
        raise ImplError(
            f"{IMPL_ENV}={raw}: no tinytorch package there (neither {given}/{PACKAGE_DIR}/core/ "
            f"nor {given}/core/ exists); {HOW_TO_POINT}"
        )
    return Implementation(package_dir=package_dir, reference=False)


def implementation_from_env(manifest: Manifest) -> Implementation:
    return resolve_implementation(manifest, os.environ.get(IMPL_ENV))
