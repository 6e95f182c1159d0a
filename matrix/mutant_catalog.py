"""The catalog of planted bugs (mutants/NN_slug.toml): read it, refuse anything malformed.

One file per module, named like the module's suite folder (mutants/05_autograd.toml for
tests/05_autograd), of entries like

    [[mutant]]
    id = "mul-backward-forgets-other"     # unique in the file; reports say 05:mul-backward-...
    file = "tinytorch/core/autograd.py"   # one of the module's files in matrix/modules.toml
    category = "gradient"                 # see categories()
    find = "return grad * b"              # exact text, occurring exactly once in the file
    replace = "return grad"               # the mutated code must still import
    why = "the product rule applied to one factor only"

each a bug a learner could write, which the suites must catch (run by matrix/sessions/mutants.py).
A broken catalog stops with a CatalogError: one line naming the file, the entry and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from matrix.manifest import Manifest, Module, tomllib

CATALOG_DIR = Path("mutants")
# Categories are the audit's bug categories, pyproject's pytest markers (their one owner), but
# these, plus TYPICAL for each module's own classic mistakes. A slowdown is the benchmarks' to
# find, not a test's; `extra` is a tier, not a kind of bug.
NOT_PLANTABLE = frozenset({"extra", "performance"})
TYPICAL = "typical"
MIN_PER_MODULE = 10
# Each key of an entry; the TOML `id` is the mutant's name, unique within its file.
ENTRY_KEYS = ("id", "file", "category", "find", "replace", "why")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
FORMAT_NOTE = "the format is in matrix/mutant_catalog.py"


class CatalogError(ValueError):
    """The catalog is malformed; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class Mutant:
    module: int
    name: str
    file: str
    category: str
    find: str
    replace: str
    why: str

    @property
    def id(self) -> str:
        return f"{self.module:02d}:{self.name}"


def load_catalog(manifest: Manifest, root: Path | None = None) -> list[Mutant]:
    """Every mutant of root/mutants/*.toml (root: the manifest's), in module and file order
    (the file names start with the module's number)."""
    root = root or manifest.root
    folder = root / CATALOG_DIR
    allowed = categories(root)
    suites = {module.suite: module for module in manifest.modules}
    mutants: list[Mutant] = []
    for path in sorted(folder.glob("*.toml")):
        where = (CATALOG_DIR / path.name).as_posix()
        module = suites.get(path.stem)
        if module is None:
            raise CatalogError(
                f"{where}: no module has the suite folder tests/{path.stem}; name the file "
                f"after one: {', '.join(f'{suite}.toml' for suite in suites)}"
            )
        mutants += _read_file(path, where, module, allowed)
    return mutants


def _read_file(path: Path, where: str, module: Module, allowed: tuple[str, ...]) -> list[Mutant]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{where}: not valid TOML ({error}); fix the syntax") from None
    unknown = sorted(set(raw) - {"mutant"})
    if unknown:
        raise CatalogError(
            f"{where}: unknown top-level key '{unknown[0]}'; the file holds [[mutant]] "
            f"entries only ({FORMAT_NOTE})"
        )
    entries = raw.get("mutant", [])
    if not isinstance(entries, list):
        raise CatalogError(f"{where}: 'mutant' must be an array of tables: write [[mutant]]")
    mutants: list[Mutant] = []
    for index, entry in enumerate(entries, 1):
        mutant = _parse_entry(entry, f"{where}: [[mutant]] entry {index}", module, allowed)
        if any(other.name == mutant.name for other in mutants):
            raise CatalogError(
                f"{where}: two entries have the id '{mutant.name}'; give each its own id"
            )
        mutants.append(mutant)
    return mutants


def categories(root: Path) -> tuple[str, ...]:
    """The categories a planted bug may name, read from root's pyproject.toml markers."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    markers = pyproject.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("markers", [])
    names = [re.match(r"\w+", line).group() for line in markers]
    return (*[name for name in names if name not in NOT_PLANTABLE], TYPICAL)


def _parse_entry(entry: object, where: str, module: Module, allowed: tuple[str, ...]) -> Mutant:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where} must be a table")
    if isinstance(entry.get("id"), str):
        where += f" ('{entry['id']}')"
    for key in entry:
        if key not in ENTRY_KEYS:
            raise CatalogError(
                f"{where}: unknown key '{key}'; allowed keys are {', '.join(ENTRY_KEYS)}"
            )
    for key in ENTRY_KEYS:
        if key not in entry:
            raise CatalogError(f"{where}: missing key '{key}'; add it ({FORMAT_NOTE})")
        if not isinstance(entry[key], str):
            raise CatalogError(f"{where}: '{key}' must be a string, got {entry[key]!r}")
        # An empty replace deletes the find text, a bug like any other.
        if not entry[key] and key != "replace":
            raise CatalogError(f"{where}: '{key}' is empty; write what it asks for")
    if not NAME_PATTERN.match(entry["id"]):
        raise CatalogError(
            f"{where}: id must be lowercase words joined by '-' (e.g. 'mul-backward-forgets-b')"
        )
    if entry["category"] not in allowed:
        raise CatalogError(
            f"{where}: category '{entry['category']}' is not one of {', '.join(allowed)}"
        )
    if entry["file"] not in module.files:
        raise CatalogError(
            f"{where}: file '{entry['file']}' is not module {module.label}'s; use one of "
            f"{', '.join(module.files)} (matrix/modules.toml)"
        )
    if entry["find"] == entry["replace"]:
        raise CatalogError(f"{where}: 'replace' equals 'find', so nothing is planted; change it")
    return Mutant(
        module=module.number,
        name=entry["id"],
        file=entry["file"],
        category=entry["category"],
        find=entry["find"],
        replace=entry["replace"],
        why=entry["why"],
    )


def mutate(mutant: Mutant, package_root: Path) -> bool:
    """Plant the bug in package_root/mutant.file; False (stale) when the file is absent or the
    find text does not occur exactly once (then nothing is written)."""
    path = package_root / mutant.file
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if text.count(mutant.find) != 1:
        return False
    path.write_text(text.replace(mutant.find, mutant.replace), encoding="utf-8")
    return True
