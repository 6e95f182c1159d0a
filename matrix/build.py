"""Build checkpoint N: a real tinytorch wheel holding the skeleton and modules 01..N only.

The files are staged in a temporary tree (pyproject.toml + the checkpoint's package files +
a generated _checkpoint.py) and built there by hatchling through `uv build`. The version is
`<base>+cpNN.<digest of the staged sources and pyproject.toml>`, so a changed source can
never be served from an installer's cache under an old name, and the same sources always
give the same wheel bytes (hatchling builds reproducibly: fixed timestamps and file order).

The module files come from an Implementation (matrix/impl.py): the reference package here by
default, or another one (MATRIX_IMPL), whose wheels are built in a folder of their own.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.impl import Implementation, reference_implementation
from matrix.layout import Layout
from matrix.manifest import PACKAGE_DIR, Manifest
from matrix.stub import stub_source

CHECKPOINT_FILE = f"{PACKAGE_DIR}/_checkpoint.py"
BUILD_CONFIG = "pyproject.toml"
EMPTY: frozenset[str] = frozenset()
VERSION_PATTERN = re.compile(r'^__version__ = "([^"+]+)"$', re.MULTILINE)


class BuildError(RuntimeError):
    """A checkpoint wheel could not be built; the message says why."""


def module_bytes(
    manifest: Manifest, impl: Implementation, path: str, stubbed: frozenset[str]
) -> bytes:
    """What the wheel holds at `path`: the implementation's file, or its stub (matrix/stub.py)."""
    source = impl.source(manifest, path)
    if path not in stubbed:
        return source.read_bytes()
    return stub_source(source.read_text(encoding="utf-8"), str(source)).encode()


def checkpoint_version(
    manifest: Manifest,
    number: int,
    stubbed: frozenset[str] = EMPTY,
    impl: Implementation | None = None,
) -> str:
    impl = impl or reference_implementation(manifest)
    # Before reading anything: a missing module file is the user's to fix, not a traceback.
    impl.require_files(manifest, number)
    source = (manifest.root / CHECKPOINT_FILE).read_text(encoding="utf-8")
    match = VERSION_PATTERN.search(source)
    if not match:
        raise BuildError(f'{CHECKPOINT_FILE} has no line __version__ = "X.Y.Z"; restore it')
    digest = hashlib.sha256()
    for path in sorted({BUILD_CONFIG, *manifest.files_of_checkpoint(number)} - {CHECKPOINT_FILE}):
        if path == BUILD_CONFIG:
            content = (manifest.root / path).read_bytes()
        else:
            content = module_bytes(manifest, impl, path, stubbed)
        digest.update(path.encode() + b"\0" + content + b"\0")
    return f"{match.group(1)}+cp{number:02d}.{digest.hexdigest()[:12]}"


def checkpoint_module(
    manifest: Manifest,
    number: int,
    stubbed: frozenset[str] = EMPTY,
    impl: Implementation | None = None,
) -> str:
    """The text of _checkpoint.py inside checkpoint `number`'s wheel."""
    slugs = tuple(module.slug for module in manifest.checkpoint(number))
    return (
        f'"""Checkpoint {number:02d} of tinytorch, built by matrix/build.py: modules '
        f'01..{number:02d} only."""\n\n'
        f'__version__ = "{checkpoint_version(manifest, number, stubbed, impl)}"\n'
        f"CHECKPOINT = {number}\n"
        f"MODULES = {slugs!r}\n"
    )


def stage_checkpoint(
    manifest: Manifest,
    number: int,
    staging: Path,
    stubbed: frozenset[str] = EMPTY,
    impl: Implementation | None = None,
) -> None:
    impl = impl or reference_implementation(manifest)
    shutil.copyfile(manifest.root / BUILD_CONFIG, staging / BUILD_CONFIG)
    for path in manifest.files_of_checkpoint(number):
        target = staging / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(module_bytes(manifest, impl, path, stubbed))
    stamp = checkpoint_module(manifest, number, stubbed, impl)
    (staging / CHECKPOINT_FILE).write_text(stamp, encoding="utf-8")


def build_checkpoint_wheel(
    manifest: Manifest,
    number: int,
    out_dir: Path,
    stubbed: frozenset[str] = EMPTY,
    impl: Implementation | None = None,
) -> Path:
    """Build checkpoint `number` into out_dir (emptied first) and return the wheel's path.

    Files named in `stubbed` go into the wheel as stubs (matrix/stub.py): the vacuity check
    builds checkpoint N with module N stubbed to prove that suite N fails without it. The version
    names a digest of every input, so a wheel already in out_dir under the expected name was
    built from these very sources, and is returned as it is if its bytes are still those it
    was built with (its sha256 sidecar); a wheel cut short or changed since is built again.
    """
    version = checkpoint_version(manifest, number, stubbed, impl)
    expected = out_dir / f"tinytorch-{version}-py3-none-any.whl"
    if expected.is_file() and list(out_dir.glob("*.whl")) == [expected]:
        problem = wheel_problem(expected)
        if problem is None:
            return expected
        print(f"checkpoint {number:02d}: {expected.name} {problem}; rebuilding it", file=sys.stderr)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix=f"tinytorch-cp{number:02d}-") as staging:
        stage_checkpoint(manifest, number, Path(staging), stubbed, impl)
        command = ["uv", "build", "--wheel", "--quiet", "--out-dir", str(out_dir), staging]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise BuildError(
                "uv is not on PATH; install it with `python -m pip install uv`"
            ) from None
    if completed.returncode != 0:
        raise BuildError(
            f"building checkpoint {number:02d} failed (uv build exit {completed.returncode}):\n"
            + completed.stderr.strip()
        )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel in {out_dir}, found {[w.name for w in wheels]}")
    write_atomically(sidecar_of(wheels[0]), f"{file_sha256(wheels[0])}  {wheels[0].name}\n")
    return wheels[0]


def sidecar_of(wheel: Path) -> Path:
    """Where a built wheel's sha256 is kept, in `sha256sum` format (`sha256sum -c` reads it)."""
    return wheel.with_name(f"{wheel.name}.sha256")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_problem(wheel: Path) -> str | None:
    """Why a wheel in the build folder cannot be reused (None: it is the wheel that was built).

    A build killed while uv wrote the wheel, or a disk that filled, leaves a wheel cut short
    under the right name; reused, every install of it would fail for ever."""
    try:
        recorded = sidecar_of(wheel).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return "has no recorded sha256"
    except OSError as error:
        return f"has an unreadable sha256 record ({error.strerror})"
    try:
        actual = file_sha256(wheel)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if not recorded or recorded[0] != actual:
        return "does not match the sha256 recorded when it was built (cut short or changed)"
    return None


def checkpoint_wheel(
    manifest: Manifest,
    number: int,
    stubbed: frozenset[str] = EMPTY,
    impl: Implementation | None = None,
) -> Path:
    """Checkpoint `number`'s wheel in its usual place under build/checkpoints/.

    Another implementation's wheels get a folder of their own (build/checkpoints/impl/<key>/),
    so building one never evicts the reference's wheels, or another learner's.
    """
    impl = impl or reference_implementation(manifest)
    folder = wheel_folder(manifest, number, bool(stubbed), impl)
    return build_checkpoint_wheel(manifest, number, folder, stubbed, impl)


def wheel_folder(manifest: Manifest, number: int, stubbed: bool, impl: Implementation) -> Path:
    """Where checkpoint `number`'s wheel of `impl` is kept (Layout.checkpoint_wheels)."""
    layout = Layout(manifest.root, impl.key)
    return layout.at(layout.checkpoint_wheels) / (
        f"cp{number:02d}" + ("-stubbed" if stubbed else "")
    )
