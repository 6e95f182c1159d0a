"""A course checkout's module sources, exported into a package folder as nbdev would.

A course keeps each module as one nbdev/jupytext source (percent-format .py), whose
`#| default_exp core.tensor` cell names its module and whose `#| export` cells are its code.
Three layouts are read, the first that holds a module's source winning:

    src/01_tensor/01_tensor.py
    modules/source/01_tensor/tensor_dev.py
    modules/01_tensor/tensor.py

The export is nbdev's own (`nb_export`, after jupytext reads the source), run by uv in an
environment of its own (pyproject's `export` group): nbdev and jupytext are the course's
tools, not the matrix's. It is kept under build/, keyed by the sources' digest, so the
sessions of one run export once and an unchanged checkout is never exported again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from matrix.manifest import tomllib  # the manifest owns Python 3.10's fallback to tomli

EXPORT_SCRIPT = Path(__file__).with_name("nbdev_export.py")
EXPORT_GROUP = "export"
DIGEST_CHARS = 12


@dataclass(frozen=True)
class SourceLayout:
    folder: str  # under the checkout, holding one NN_name/ folder per module
    file: str  # the source's name in NN_name/: {folder} is "01_tensor", {name} is "tensor"

    @property
    def pattern(self) -> str:
        return f"{self.folder}/NN_name/{self.file.format(folder='NN_name', name='name')}"

    def source(self, checkout: Path, number: int) -> Path | None:
        for folder in sorted((checkout / self.folder).glob(f"{number:02d}_*")):
            path = folder / self.file.format(folder=folder.name, name=folder.name[3:])
            if path.is_file():
                return path
        return None


LAYOUTS = (
    SourceLayout("src", "{folder}.py"),
    SourceLayout("modules/source", "{name}_dev.py"),
    SourceLayout("modules", "{name}.py"),
)


class ExportError(RuntimeError):
    """The course's sources could not be exported; the message says why and what to do."""


@dataclass(frozen=True)
class CourseSources:
    checkout: Path
    files: tuple[Path, ...]  # one per module found, in module order

    def describe(self) -> str:
        """'src/NN_name/NN_name.py sources, exported by nbdev': what the modules were made from."""
        patterns = dict.fromkeys(
            layout.pattern
            for path in self.files
            for layout in LAYOUTS
            if layout.source(self.checkout, int(path.parent.name[:2])) == path
        )
        return f"{' and '.join(patterns)} sources, exported by nbdev"

    def digest(self) -> str:
        digest = hashlib.sha256(EXPORT_SCRIPT.read_bytes())
        for path in self.files:
            digest.update(str(path.relative_to(self.checkout)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()[:DIGEST_CHARS]


def has_course_sources(checkout: Path) -> bool:
    """Whether a folder looks like a course checkout (cheap: no source is read)."""
    return any(any((checkout / layout.folder).glob("[0-9][0-9]_*/*.py")) for layout in LAYOUTS)


def find_course_sources(checkout: Path, numbers: tuple[int, ...]) -> CourseSources | None:
    """The module sources of a course checkout, for the manifest's modules; None if it has none."""
    files = []
    for number in numbers:
        found = (layout.source(checkout, number) for layout in LAYOUTS)
        path = next((path for path in found if path is not None), None)
        if path is not None:
            files.append(path)
    return CourseSources(checkout, tuple(files)) if files else None


def export_requirements(root: Path) -> list[str]:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["dependency-groups"][EXPORT_GROUP]


def export_course(sources: CourseSources, root: Path, exports_dir: Path) -> Path:
    """The package folder (…/tinytorch) exported from `sources`, made once per digest."""
    digest = sources.digest()
    done = exports_dir / digest
    if (done / "tinytorch").is_dir():
        return done / "tinytorch"
    partial = exports_dir / f".{digest}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    # Made even if nothing is exported: the checkpoints then name the module files it lacks.
    (partial / "tinytorch").mkdir(parents=True)
    command = [
        "uv", "run", "--no-project", "--quiet", "--python", sys.executable,
        *(f"--with={requirement}" for requirement in export_requirements(root)),
        "python", str(EXPORT_SCRIPT), "tinytorch", "notebooks", *map(str, sources.files),
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command, cwd=partial, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise ExportError("uv is not on PATH; install it with `python -m pip install uv`") from None
    if completed.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ExportError(
            f"nbdev could not export {sources.checkout}'s sources (exit "
            f"{completed.returncode}); run the course's own export to see the problem:\n"
            + completed.stderr.strip()
        )
    try:
        partial.rename(done)
    except OSError:  # another session of this run exported the same sources first
        shutil.rmtree(partial, ignore_errors=True)
    for older in exports_dir.iterdir():
        if older.name not in (digest, partial.name) and not older.name.startswith("."):
            shutil.rmtree(older, ignore_errors=True)
    return done / "tinytorch"
