"""Which checkpoints a set of changed files can break, and why, read off the manifest.

A checkpoint holds modules 01..N and runs suites 01..N, so a change to module K's files or to
suite K reaches checkpoint K and every later one. Whatever every checkpoint is built or run
with (the skeleton, pyproject.toml, the matrix tool, the noxfile, CI, the guard test and
anything else directly in tests/) reaches all of them. A module's planted bugs
(mutants/NN_slug.toml) reach its checkpoint, like its suite. Anything else (README.md, bench/,
milestone/) reaches none. When in doubt (a package file the manifest does not list, say a
deleted module's), the answer is all: running too much costs minutes, too little a release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from matrix.manifest import PACKAGE_DIR, TEST_FOLDER_PATTERN, TESTS_DIR, Manifest
from matrix.mutant_catalog import CATALOG_DIR

# Paths (a file, or a folder ending in "/") that every checkpoint is built or run with.
EVERY_CHECKPOINT = {
    "matrix/": "the matrix tool",
    "noxfile.py": "the noxfile",
    "pyproject.toml": "build and test configuration",
    ".github/": "CI",
    ".ci/": "CI",
}


@dataclass(frozen=True)
class Change:
    """One changed file: the first checkpoint it reaches (None: none) and why."""

    path: str
    first: int | None
    why: str
    # The module whose code or suite this is (its vacuity check must run), if any.
    module: int | None = None


@dataclass
class Selection:
    numbers: tuple[int, ...]
    changes: list[Change] = field(default_factory=list)

    @property
    def checkpoints(self) -> list[int]:
        firsts = [change.first for change in self.changes if change.first is not None]
        return [number for number in self.numbers if firsts and number >= min(firsts)]

    @property
    def skipped(self) -> list[int]:
        return [number for number in self.numbers if number not in self.checkpoints]

    def selected_by(self, number: int) -> list[str]:
        return [
            change.path
            for change in self.changes
            if change.first is not None and change.first <= number
        ]

    @property
    def changed_modules(self) -> list[int]:
        return sorted({change.module for change in self.changes if change.module is not None})

    @property
    def reaching_none(self) -> list[Change]:
        return [change for change in self.changes if change.first is None]


def select_checkpoints(manifest: Manifest, changed: list[str]) -> Selection:
    return Selection(
        numbers=manifest.numbers,
        changes=[classify(manifest, path) for path in sorted(set(changed))],
    )


def classify(manifest: Manifest, path: str) -> Change:
    first = manifest.numbers[0]
    for module in manifest.modules:
        if path in module.files:
            return Change(path, module.number, f"module {module.label} code", module.number)
    if path in manifest.skeleton:
        return Change(path, first, "the package skeleton")
    for prefix, what in EVERY_CHECKPOINT.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return Change(path, first, what)
    parts = PurePosixPath(path).parts
    if parts[0] == PACKAGE_DIR:
        return Change(path, first, "a package file no module lists (deleted or unlisted?)")
    if parts[0] == TESTS_DIR and len(parts) > 2 and TEST_FOLDER_PATTERN.match(parts[1]):
        number = int(parts[1][:2])
        if number in manifest.numbers:
            return Change(path, number, f"suite {parts[1]}", number)
        return Change(path, first, f"a test folder no module lists ({parts[1]}; deleted?)")
    if parts[0] == TESTS_DIR:
        return Change(path, first, "tests/ outside the suite folders (guard, shared config)")
    if parts[0] == CATALOG_DIR.name:
        # The gate runs a module's planted bugs at its checkpoints, whose runs it needs.
        for module in manifest.modules:
            if parts[-1] == f"{module.suite}.toml":
                return Change(
                    path, module.number, f"planted bugs of module {module.label}", module.number
                )
        return Change(path, first, "a catalog of planted bugs no module lists (deleted?)")
    return Change(path, None, "not package code, a suite or the matrix tool")
