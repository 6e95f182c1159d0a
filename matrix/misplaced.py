"""Misplaced tests: a file in tests/NN_* that imports a module numbered above NN.

Suite NN runs at checkpoint NN, where modules above NN are not installed, so such a file
cannot even be imported there: it belongs in the folder of the highest module it imports
(the module-05 audit's blocker was a DataLoader test, module 08, in tests/05_autograd/).

Found statically, by parsing each file with `ast` (no code runs): `import tinytorch.core.X`,
`from tinytorch.core.X import ...`, `from tinytorch.core import X`, any other package path
the manifest lists (`tinytorch.data.loader` is a file of module 08), a literal name given
to `importlib.import_module`, `__import__` or `pytest.importorskip`, and the suites' own
stand-ins: `from course_api import DataLoader` (module 08, by course_api's COURSE_API table),
`from reference_extras import no_grad` (its EXTRA_NAMES) and `name_in("tinytorch.x", ...)`.
Importing a.b.c runs a, a.b and a.b.c, so the module an import needs is the highest owner
along that path. A finding
is "confirmed" when the JUnit XML of checkpoint NN's latest run shows the file failing to be
collected for a missing module, or its tests failing for a course-API module that is not
installed; otherwise it is "static only".

    python -m matrix misplaced      # prints the findings; exit status 1 if there are any
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from matrix.junit import read_cases
from matrix.manifest import Manifest
from matrix.records import RecordError

CONFIRMED = "confirmed"
STATIC_ONLY = "static only"
# Calls that import the module named by their first (literal) argument.
IMPORTING_CALLS = {"import_module", "__import__", "importorskip", "name_in"}
COLLECTION_FAILURE = "collection failure"
MISSING_MODULE = "No module named"
# tests/support/course_api.py: how a test says it lacks a module that is not installed.
NOT_INSTALLED = " is not installed, so "
# The suites' stand-in modules and the literal table in each that maps a name to its module.
STAND_INS = {
    "course_api": ("tests/support/course_api.py", "COURSE_API"),
    "reference_extras": ("tests/support/reference_extras.py", "EXTRA_NAMES"),
}


@dataclass(frozen=True)
class Import:
    name: str
    line: int
    module: int


@dataclass(frozen=True)
class Misplaced:
    path: str
    folder: int
    imports: tuple[Import, ...]
    belongs_in: str
    evidence: str = STATIC_ONLY

    @property
    def needs(self) -> int:
        return max(found.module for found in self.imports)

    def describe(self) -> str:
        """One line: the file, what it imports above its folder, where it belongs, evidence."""
        names = ", ".join(
            f"{found.name} (module {found.module:02d}, line {found.line})" for found in self.imports
        )
        return (
            f"{self.path} imports {names}: it cannot run at checkpoint {self.folder:02d}; "
            f"move it to {self.belongs_in}/ [{self.evidence}]"
        )


def module_owners(manifest: Manifest) -> dict[str, int]:
    """Dotted module name -> the number of the module whose file it is (0: the skeleton)."""
    owners = {}
    claims = [(0, path) for path in manifest.skeleton] + [
        (module.number, path) for module in manifest.modules for path in module.files
    ]
    for number, path in claims:
        parts = PurePosixPath(path).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        owners[".".join(parts)] = number
    return owners


def needed_module(owners: dict[str, int], dotted: str) -> int | None:
    """The highest module along a.b.c (importing it runs a, a.b and a.b.c); None if none."""
    parts = dotted.split(".")
    prefixes = (".".join(parts[:end]) for end in range(1, len(parts) + 1))
    found = [owners[prefix] for prefix in prefixes if prefix in owners]
    return max(found) if found else None


def known_part(owners: dict[str, int], dotted: str) -> str:
    """The name as far as the manifest knows it: 'tinytorch.core.layers.Linear' -> '...layers'."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in owners:
            return ".".join(parts[:end])
    return dotted


def stand_in_paths(root: Path) -> dict[str, dict[str, str]]:
    """Stand-in module -> {name: the tinytorch module it stands for}, read from the literal
    tables of tests/support (no code runs); a stand-in module that is absent maps nothing."""
    paths: dict[str, dict[str, str]] = {}
    for stand_in, (file, table) in STAND_INS.items():
        paths[stand_in] = {}
        source = root / file
        if not source.is_file():
            continue
        for node in ast.parse(source.read_bytes(), filename=str(source)).body:
            if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == table:
                value = ast.literal_eval(node.value)
                if table == "COURSE_API":  # slug -> (number, names)
                    paths[stand_in] = {
                        name: f"tinytorch.core.{slug}"
                        for slug, (_, names) in value.items()
                        for name in names
                    }
                else:  # name -> (module path, feature)
                    paths[stand_in] = {name: path for name, (path, _) in value.items()}
    return paths


def imported_names(tree: ast.AST, stand_ins: dict[str, dict[str, str]]) -> list[tuple[str, int]]:
    """Every absolute module name the file imports, with its line."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module in stand_ins:
            table = stand_ins[node.module]
            names += [(table[a.name], node.lineno) for a in node.names if a.name in table]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a import b` imports a, and a.b too when b is a submodule.
            names += [(node.module, node.lineno)]
            names += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call) and _call_name(node.func) in IMPORTING_CALLS:
            literal = _literal_argument(node)
            if literal and not literal.startswith("."):  # relative names are not ours
                names.append((literal, node.lineno))
    return names


def _literal_argument(call: ast.Call) -> str | None:
    argument = call.args[0] if call.args else None
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    return None


def _call_name(function: ast.expr) -> str | None:
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def imports_above(
    path: Path, owners: dict[str, int], folder: int, stand_ins: dict[str, dict[str, str]]
) -> tuple[Import, ...]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    # Keyed by (module name, line): `from a.b import C` yields a.b and a.b.C, one import.
    above: dict[tuple[str, int], Import] = {}
    for name, line in imported_names(tree, stand_ins):
        number = needed_module(owners, name)
        if number is not None and number > folder:
            known = known_part(owners, name)
            above[(known, line)] = Import(name=known, line=line, module=number)
    # `from a import b` (b a submodule) names a and a.b: the deeper name says it all.
    covered = {
        (outer, line)
        for (outer, line) in above
        for (inner, same_line) in above
        if line == same_line and inner.startswith(outer + ".")
    }
    kept = [found for key, found in above.items() if key not in covered]
    return tuple(sorted(kept, key=lambda found: (found.line, found.name)))


def find_misplaced(manifest: Manifest) -> tuple[list[Misplaced], list[str]]:
    """Findings for every .py file under tests/NN_*/, and the files that could not be parsed."""
    owners = module_owners(manifest)
    stand_ins = stand_in_paths(manifest.root)
    findings, unparsable = [], []
    for module in manifest.modules:
        folder = manifest.root / module.tests
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(manifest.root).as_posix()
            try:
                above = imports_above(path, owners, module.number, stand_ins)
            except SyntaxError as error:
                unparsable.append(f"{relative} (line {error.lineno}: {error.msg})")
                continue
            if above:
                needs = max(found.module for found in above)
                findings.append(
                    Misplaced(relative, module.number, above, manifest.module(needs).tests)
                )
    return findings, unparsable


def collection_failures(junit: Path) -> set[str]:
    """Test files a JUnit XML shows failing for a missing module: at collection, or test by
    test through the course-API stand-ins."""
    return {
        case.file
        for case in read_cases(junit)
        if case.failed
        and (
            (COLLECTION_FAILURE in case.message and MISSING_MODULE in case.message)
            or NOT_INSTALLED in case.message
        )
    }


def confirm(findings: list[Misplaced], junit_of) -> list[Misplaced]:
    """Mark each finding confirmed when junit_of(its folder's checkpoint) shows it uncollectable.

    junit_of(number) returns the JUnit XML path of checkpoint number's latest run, or None. A
    JUnit file that cannot be read leaves the finding static only, with the file named.
    """
    confirmed = []
    for finding in findings:
        junit = junit_of(finding.folder)
        if junit is not None and junit.is_file():
            try:
                failures = collection_failures(junit)
            except RecordError as error:
                finding = replace(finding, evidence=f"{STATIC_ONLY}: {error}")
            else:
                if finding.path in failures:
                    evidence = f"{CONFIRMED}: checkpoint {finding.folder:02d} could not import it"
                    finding = replace(finding, evidence=evidence)
        confirmed.append(finding)
    return confirmed


def latest_junit(junit_dir: Path):
    """junit_of for confirm(): the most recently written checkpoint-NN-*.xml under junit_dir."""

    def junit_of(number: int) -> Path | None:
        candidates = sorted(
            junit_dir.glob(f"checkpoint-{number:02d}-*.xml"), key=lambda p: p.stat().st_mtime
        )
        return candidates[-1] if candidates else None

    return junit_of
