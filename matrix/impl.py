"""Which tinytorch a checkpoint is built from: the reference package here, or another one.

    MATRIX_IMPL=/path/to/learner nox -s module03      # a folder that contains tinytorch/
    MATRIX_IMPL=/path/to/learner/tinytorch nox -s module03   # or tinytorch/ itself
    MATRIX_IMPL=/path/to/course-checkout nox -s module03     # nbdev/jupytext module sources
    nox -s gate -- --base main --impl /path/to/learner

A course checkout's module sources (matrix/course_sources.py) are exported as nbdev would,
and win over a tinytorch/ folder beside them, which is the output of an earlier export.

Checkpoint N of another implementation holds that implementation's module files (the paths
matrix/modules.toml lists for modules 01..N, read from its package folder) and OUR skeleton
(tinytorch/__init__.py, _checkpoint.py, core/__init__.py): the skeleton is the checkpoint
mechanics the guard test relies on, not course material, so a learner's copy of it is never
used. Files of the implementation that the manifest does not list are not shipped either.
Two kinds of listed file are made when the implementation lacks them, since neither is course
material: a package's empty __init__.py, and a path of a module's `either` list (module 08 at
tinytorch/data/loader.py or tinytorch/core/dataloader.py), which becomes that very module.

An implementation is named by what was pointed at and a digest of the module files it has,
so a report always says exactly which code was tested. The third-party packages its modules
import come from its own pyproject.toml ([project] dependencies) and MATRIX_IMPL_DEPENDENCIES.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from matrix.atomic import write_atomically
from matrix.course_sources import (
    ExportError,
    export_course,
    find_course_sources,
    has_course_sources,
)
from matrix.layout import Layout
from matrix.manifest import PACKAGE_DIR, REPO_ROOT, Manifest, Module, tomllib

IMPL_ENV = "MATRIX_IMPL"
DEPENDENCIES_ENV = "MATRIX_IMPL_DEPENDENCIES"
REPORTS_ENV = "MATRIX_REPORTS_DIR"
REFERENCE = "reference"
DIGEST_LENGTH = 12
HOW_TO_POINT = (
    f"point {IMPL_ENV} (or --impl) at the folder that contains {PACKAGE_DIR}/, at "
    f"{PACKAGE_DIR}/ itself, or at a course checkout with nbdev sources (src/NN_name/NN_name.py, "
    "modules/source/NN_name/name_dev.py or modules/NN_name/name.py)"
)
MADE_HEADER = '"""{path}: made by the matrix (matrix/impl.py), not the implementation\'s own.'
REEXPORT = (
    MADE_HEADER
    + """

The implementation holds module {label} at {target} only; API.md names both paths, so this
one is that very module.
\"\"\"

import importlib
import sys

sys.modules[__name__] = importlib.import_module("{target_module}")
"""
)
EMPTY_PACKAGE = MADE_HEADER + '"""\n'


class ImplError(ValueError):
    """The implementation to test cannot be used; the message says what is missing."""


def implementation_root(raw: str | Path) -> Path:
    """The folder a MATRIX_IMPL value means: the one holding tinytorch/ when given tinytorch/."""
    path = Path(raw).expanduser().resolve()
    if path.name == PACKAGE_DIR and (path / "core").is_dir():
        return path.parent
    return path


def is_reference(raw: str | Path, root: Path = REPO_ROOT) -> bool:
    return implementation_root(raw) == root.resolve()


def reads_course_sources(raw: str | Path) -> bool:
    """Whether a MATRIX_IMPL value means a course's sources rather than a package folder."""
    path = Path(raw).expanduser().resolve()
    return path == implementation_root(path) and has_course_sources(path)


def implementation_key(raw: str | Path) -> str:
    """A folder name for one implementation's wheels, reports and environments.

    Keyed by where it is, not by its contents, so that a learner's next run replaces the
    previous one instead of piling up beside it; a checkout's sources and the tinytorch/ beside
    them are two implementations.
    """
    root = implementation_root(raw)
    meant = f"{root}#sources" if reads_course_sources(raw) else str(root)
    where = hashlib.sha256(meant.encode()).hexdigest()[:8]
    return f"{root.name or 'root'}-{where}"


def layout_of(root: Path, raw: str | None, reports: str | None = None) -> Layout:
    """The Layout of the implementation a MATRIX_IMPL / --impl value names (None: the
    reference); `reports`: a MATRIX_REPORTS_DIR value, which wins for the reports folder."""
    key = "" if not raw or is_reference(raw, root) else implementation_key(raw)
    return Layout(root, key, Path(reports) if reports else None)


def layout_from_env(root: Path) -> Layout:
    """The Layout that MATRIX_IMPL and MATRIX_REPORTS_DIR name, read when called."""
    return layout_of(root, os.environ.get(IMPL_ENV), os.environ.get(REPORTS_ENV))


@dataclass(frozen=True)
class Implementation:
    package_dir: Path  # where its module files are read: its tinytorch/, or their export
    reference: bool
    given: Path | None = None  # the folder that was pointed at (None: the reference)
    how: str = ""  # how its module files were obtained, when not read from a package
    made: tuple[tuple[str, Path], ...] = ()  # listed files the matrix made for it
    dependencies: tuple[str, ...] = ()  # requirements its modules need, besides numpy

    def source(self, manifest: Manifest, path: str) -> Path:
        """Where the checkpoint file `path` (as the manifest spells it) is read from."""
        if self.reference or path in manifest.skeleton:
            return manifest.root / path
        return dict(self.made).get(path) or self.package_dir / Path(path).relative_to(PACKAGE_DIR)

    @property
    def label(self) -> str:
        if self.reference:
            return REFERENCE
        return f"{self.given} ({self.how})" if self.how else str(self.package_dir)

    @property
    def key(self) -> str:
        """implementation_key of what was pointed at (the reference: '')."""
        return "" if self.reference else implementation_key(self.pointed_at)

    @property
    def pointed_at(self) -> Path:
        """A MATRIX_IMPL value that means this implementation again: its package folder, or
        the course checkout whose sources were exported."""
        return self.given if self.how and self.given else self.package_dir

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
        missing = [
            " or ".join(module.either) if path in module.either else path
            for module in manifest.checkpoint(number)
            for path in module.files
            if not self.source(manifest, path).is_file()
        ]
        if missing:
            if self.how:
                raise ImplError(
                    f"{self.given} ({self.how}) gives no {', '.join(dict.fromkeys(missing))}, "
                    f"which checkpoint {number:02d} needs; each module's source needs a "
                    "`#| default_exp` cell naming its module (e.g. core.tensor) and `#| export` "
                    "cells, or test an earlier checkpoint"
                )
            raise ImplError(
                f"{self.package_dir} lacks {', '.join(dict.fromkeys(missing))}, which checkpoint "
                f"{number:02d} needs; add the file(s) there, or test an earlier checkpoint"
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
    if is_reference(given, manifest.root):
        return reference_implementation(manifest)
    root = implementation_root(given)
    # What the matrix makes for it (its export, its made files), apart from any other's.
    layout = layout_of(manifest.root, raw)
    work = layout.at(layout.impl_work)
    # Pointed at tinytorch/ itself, the package is meant, even beside a course's sources.
    sources = find_course_sources(root, manifest.numbers) if reads_course_sources(given) else None
    if sources is not None:
        try:
            package_dir = export_course(sources, manifest.root, work / "export")
        except ExportError as error:
            raise ImplError(f"{IMPL_ENV}={raw}: {error}") from None
        how = sources.describe()
    elif (root / PACKAGE_DIR / "core").is_dir():
        package_dir, how = root / PACKAGE_DIR, ""
    else:
        raise ImplError(
            f"{IMPL_ENV}={raw}: no tinytorch package there (neither {root}/{PACKAGE_DIR}/core/ "
            f"nor module sources); {HOW_TO_POINT}"
        )
    made = []
    for module in manifest.modules:
        for path in module.files:
            if (package_dir / Path(path).relative_to(PACKAGE_DIR)).is_file():
                continue
            text = made_text(path, module, package_dir)
            if text is not None:
                made.append((path, write_made(work / "made" / path, text)))
    return Implementation(
        package_dir=package_dir,
        reference=False,
        given=root,
        how=how,
        made=tuple(made),
        dependencies=declared_dependencies(root),
    )


def made_text(path: str, module: Module, package_dir: Path) -> str | None:
    """What the matrix puts at `path` for an implementation that lacks it (None: nothing)."""
    if Path(path).name == "__init__.py":
        return EMPTY_PACKAGE.format(path=path)
    if path in module.either:
        held = [
            other
            for other in module.either
            if (package_dir / Path(other).relative_to(PACKAGE_DIR)).is_file()
        ]
        if held:
            target = held[0]
            return REEXPORT.format(
                path=path,
                label=module.label,
                target=target,
                target_module=target.removesuffix(".py").replace("/", "."),
            )
    return None


def write_made(destination: Path, text: str) -> Path:
    """A made file, rewritten only when its text changes (its mtime then stays put)."""
    if not destination.is_file() or destination.read_text(encoding="utf-8") != text:
        write_atomically(destination, text)
    return destination


def declared_dependencies(root: Path) -> tuple[str, ...]:
    """The requirements an implementation states: its pyproject's, then MATRIX_IMPL_DEPENDENCIES."""
    declared: list[tuple[str, str]] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except tomllib.TOMLDecodeError as error:
            raise ImplError(f"{pyproject}: not valid TOML ({error}); fix it") from None
        declared += [(f"{pyproject} [project] dependencies", line) for line in
                     project.get("dependencies", [])]  # fmt: skip
    declared += [(DEPENDENCIES_ENV, line) for line in os.environ.get(DEPENDENCIES_ENV, "").split()]
    requirements = []
    for where, line in declared:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise ImplError(
                f"{where}: {line!r} is not a requirement ({error}); write it as pip would "
                "take it, e.g. scipy>=1.10"
            ) from None
        # The checkpoint wheel is its tinytorch.
        if requirement.name.lower() != PACKAGE_DIR:
            requirements.append(line)
    return tuple(requirements)


def implementation_from_env(manifest: Manifest) -> Implementation:
    return resolve_implementation(manifest, os.environ.get(IMPL_ENV))
