"""The module manifest (matrix/modules.toml): load it and refuse anything inconsistent.

Everything that lists modules (nox sessions, CI, checkpoint wheels, the report) reads the
Manifest this file returns, so every check that keeps the list honest lives here. A broken
manifest stops with a ManifestError: one line naming the entry and the fix.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; tomli is the same parser, published separately.
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = Path("matrix/modules.toml")
PACKAGE_DIR = "tinytorch"
TESTS_DIR = "tests"

MODULE_KEYS = {"number": int, "slug": str, "title": str, "files": list, "tests": str}
# Paths of one module that another implementation may hold it at, any one of them (matrix/impl.py
# makes the others re-export it).
OPTIONAL_MODULE_KEYS = {"either": list}
PACKAGE_KEYS = {"skeleton": list}
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
TEST_FOLDER_PATTERN = re.compile(r"^(\d{2})_[a-z][a-z0-9_]*$")


# The tag of every checkpoint session: CI lists its jobs with `nox -l --json -t checkpoint`.
CHECKPOINT_TAG = "checkpoint"


def checkpoint_session(number: int) -> str:
    """The nox session that runs checkpoint `number`: its name's one owner."""
    return f"module{number:02d}"


def vacuity_session(number: int) -> str:
    """The nox session that runs module `number`'s suite against its stub."""
    return f"vacuity{number:02d}"


class ManifestError(ValueError):
    """The manifest, or the tree it describes, is inconsistent; the message says how to fix it."""


@dataclass(frozen=True)
class Module:
    number: int
    slug: str
    title: str
    files: tuple[str, ...]
    tests: str
    either: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    @property
    def session(self) -> str:
        return checkpoint_session(self.number)

    @property
    def vacuity_session(self) -> str:
        return vacuity_session(self.number)

    @property
    def import_name(self) -> str:
        return f"{PACKAGE_DIR}.core.{self.slug}"

    @property
    def suite(self) -> str:
        """The suite's name in reports: its folder under tests/, e.g. '01_tensor'."""
        return Path(self.tests).name


@dataclass(frozen=True)
class Manifest:
    root: Path
    skeleton: tuple[str, ...]
    modules: tuple[Module, ...]

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(module.number for module in self.modules)

    def module(self, number: int) -> Module:
        for module in self.modules:
            if module.number == number:
                return module
        raise ManifestError(
            f"there is no checkpoint {number}: the manifest has checkpoints "
            f"{self.modules[0].label}..{self.modules[-1].label}; pick one of those"
        )

    def checkpoint(self, number: int) -> tuple[Module, ...]:
        """The modules a checkpoint contains: 01..number."""
        self.module(number)
        return tuple(module for module in self.modules if module.number <= number)

    def files_of_checkpoint(self, number: int) -> tuple[str, ...]:
        return self.skeleton + tuple(
            path for module in self.checkpoint(number) for path in module.files
        )


def load_manifest(root: Path = REPO_ROOT) -> Manifest:
    path = root / MANIFEST_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"{MANIFEST_PATH}: not found under {root}; run from the repo root"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{MANIFEST_PATH}: not valid TOML ({error}); fix the syntax") from None
    _reject_unknown_keys(raw, {"package": dict, "module": list}, "the top level")
    package = raw.get("package", {})
    _check_entry(package, PACKAGE_KEYS, "[package]")
    modules = tuple(
        sorted(
            (_parse_module(entry, index) for index, entry in enumerate(raw.get("module", []), 1)),
            key=lambda module: module.number,
        )
    )
    if not modules:
        raise ManifestError(f"{MANIFEST_PATH}: no [[module]] entries; add module 01")
    manifest = Manifest(root=root, skeleton=tuple(package["skeleton"]), modules=modules)
    _check_numbering(manifest)
    _check_files(manifest)
    _check_test_folders(manifest)
    return manifest


def _reject_unknown_keys(entry: dict, allowed: dict, where: str) -> None:
    for key in entry:
        if key not in allowed:
            raise ManifestError(
                f"{MANIFEST_PATH}: {where}: unknown key '{key}'; "
                f"allowed keys are {', '.join(allowed)}"
            )


def _check_entry(entry: object, keys: dict, where: str, optional: dict | None = None) -> None:
    if not isinstance(entry, dict):
        raise ManifestError(f"{MANIFEST_PATH}: {where} must be a table")
    optional = optional or {}
    _reject_unknown_keys(entry, {**keys, **optional}, where)
    for key, kind in {**keys, **optional}.items():
        if key not in entry:
            if key in optional:
                continue
            raise ManifestError(f"{MANIFEST_PATH}: {where}: missing key '{key}'; add it")
        value = entry[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ManifestError(
                f"{MANIFEST_PATH}: {where}: '{key}' must be a {kind.__name__}, got {value!r}"
            )
        if kind is list and not all(isinstance(item, str) for item in value):
            raise ManifestError(f"{MANIFEST_PATH}: {where}: '{key}' must list paths as strings")


def _parse_module(entry: dict, index: int) -> Module:
    where = f"[[module]] entry {index}"
    if isinstance(entry, dict) and "slug" in entry:
        where += f" ('{entry['slug']}')"
    _check_entry(entry, MODULE_KEYS, where, OPTIONAL_MODULE_KEYS)
    if entry["number"] < 1:
        raise ManifestError(f"{MANIFEST_PATH}: {where}: number must be 1 or more")
    if not SLUG_PATTERN.match(entry["slug"]):
        raise ManifestError(
            f"{MANIFEST_PATH}: {where}: slug '{entry['slug']}' must be a lowercase "
            "Python identifier (it becomes tinytorch.core.<slug>)"
        )
    if not entry["files"]:
        raise ManifestError(f"{MANIFEST_PATH}: {where}: 'files' is empty; list the module's files")
    either = entry.get("either", [])
    strays = [path for path in either if path not in entry["files"]]
    if strays or len(either) == 1:
        raise ManifestError(
            f"{MANIFEST_PATH}: {where}: 'either' must name two or more of the module's own "
            f"files (not {', '.join(strays) or either[0]}); list them in 'files' too"
        )
    return Module(
        number=entry["number"],
        slug=entry["slug"],
        title=entry["title"],
        files=tuple(entry["files"]),
        tests=entry["tests"],
        either=tuple(either),
    )


def _check_numbering(manifest: Manifest) -> None:
    seen: dict[int, Module] = {}
    slugs: dict[str, Module] = {}
    for module in manifest.modules:
        if module.number in seen:
            raise ManifestError(
                f"{MANIFEST_PATH}: modules '{seen[module.number].slug}' and '{module.slug}' "
                f"both have number {module.number}; give each module its own number"
            )
        if module.slug in slugs:
            raise ManifestError(
                f"{MANIFEST_PATH}: modules {slugs[module.slug].label} and {module.label} "
                f"share the slug '{module.slug}'; slugs must be unique"
            )
        seen[module.number] = module
        slugs[module.slug] = module
    for expected, module in enumerate(manifest.modules, 1):
        if module.number != expected:
            raise ManifestError(
                f"{MANIFEST_PATH}: module {expected:02d} is missing (next is {module.label} "
                f"'{module.slug}'); checkpoints must be numbered 01, 02, ... without gaps"
            )


def _check_files(manifest: Manifest) -> None:
    owner: dict[str, str] = {}
    claims = [("the skeleton", path) for path in manifest.skeleton] + [
        (f"module {module.label} '{module.slug}'", path)
        for module in manifest.modules
        for path in module.files
    ]
    for who, path in claims:
        if not (manifest.root / path).is_file():
            raise ManifestError(
                f"{MANIFEST_PATH}: {who} lists {path}, which does not exist; "
                "create it or fix the path"
            )
        if not path.startswith(f"{PACKAGE_DIR}/"):
            raise ManifestError(
                f"{MANIFEST_PATH}: {who} lists {path}, which is outside {PACKAGE_DIR}/; "
                "checkpoint wheels hold package files only"
            )
        if path in owner:
            raise ManifestError(
                f"{MANIFEST_PATH}: {path} is claimed by both {owner[path]} and {who}; "
                "a file belongs to exactly one module"
            )
        owner[path] = who
    for module in manifest.modules:
        entry_point = f"{PACKAGE_DIR}/core/{module.slug}.py"
        if entry_point not in module.files:
            raise ManifestError(
                f"{MANIFEST_PATH}: module {module.label} '{module.slug}' must list "
                f"{entry_point} (import tinytorch imports tinytorch.core.{module.slug})"
            )
    for path in sorted((manifest.root / PACKAGE_DIR).rglob("*.py")):
        relative = path.relative_to(manifest.root).as_posix()
        if relative not in owner:
            raise ManifestError(
                f"{MANIFEST_PATH}: {relative} belongs to no module, so no checkpoint would "
                "ship it; add it to a module's 'files' (or to [package] skeleton)"
            )


def _check_test_folders(manifest: Manifest) -> None:
    listed = {}
    for module in manifest.modules:
        folder = Path(module.tests)
        match = TEST_FOLDER_PATTERN.match(folder.name)
        if folder.parent.as_posix() != TESTS_DIR or not match:
            raise ManifestError(
                f"{MANIFEST_PATH}: module {module.label} '{module.slug}': tests = "
                f"'{module.tests}' must be {TESTS_DIR}/{module.label}_<name>"
            )
        if int(match.group(1)) != module.number:
            raise ManifestError(
                f"{MANIFEST_PATH}: module {module.label} '{module.slug}': test folder "
                f"'{module.tests}' is numbered {match.group(1)}, not {module.label}; "
                f"rename it to {TESTS_DIR}/{module.label}_{folder.name[3:]} or fix the entry"
            )
        if not (manifest.root / folder).is_dir():
            raise ManifestError(
                f"{MANIFEST_PATH}: module {module.label} '{module.slug}': test folder "
                f"{module.tests} does not exist; create it with the module's suite"
            )
        listed[folder.as_posix()] = module
    for folder in sorted((manifest.root / TESTS_DIR).iterdir()):
        relative = folder.relative_to(manifest.root).as_posix()
        if folder.is_dir() and TEST_FOLDER_PATTERN.match(folder.name) and relative not in listed:
            raise ManifestError(
                f"{MANIFEST_PATH}: {relative} has no manifest entry, so no checkpoint would "
                f'run it; add a [[module]] with tests = "{relative}" or move its tests'
            )
