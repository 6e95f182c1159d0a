"""The seed audit's data: a hand-written audit of one suite, kept as TOML beside that suite.

Course content, not tool code (tests/05_autograd/seed_audit.toml is the 2025 audit of module
05). The suite folder that holds the file is the seed's module; a repository without one is
audited all the same, with no seed sections. Its fields:

    description = "the hand-written ... audit of 2025-11-25"   # as the report names it
    overall_coverage = "40%"               # its estimate for the whole module
    [category_coverage]                    # its estimate per bug category (pytest marker)
    gradient = "70%"
    [[integration_points]]                 # its questions; [[missing_tests]] likewise
    name = "1. Autograd + Tensor (01)"
    seed = "60%"                           # what it says about the question
    classes = ["TestAutogradTensorIntegration"]  # evidence, at least one of: test classes,
    markers = ["inplace"]                  # markers, and a regular expression found in
    names = "broadcast"                    # the test function's name

A file that does not say what the audit needs is refused, naming the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path

from matrix.audit.model import Evidence, Point, Seed
from matrix.manifest import Manifest, tomllib

SEED_FILE = "seed_audit.toml"
TOP_FIELDS = {
    "description",
    "overall_coverage",
    "category_coverage",
    "integration_points",
    "missing_tests",
}
POINT_FIELDS = {"name", "seed", "classes", "markers", "names"}
HOW_TO_FIX = "matrix/audit/seed.py says what each field holds"


class SeedError(ValueError):
    """The seed audit's file is not what the audit needs; the message names file and field."""


def find_seed(manifest: Manifest) -> Seed | None:
    """The seed of the manifest's suites: the one suite folder holding SEED_FILE, or None."""
    holders = [m for m in manifest.modules if (manifest.root / m.tests / SEED_FILE).is_file()]
    if len(holders) > 1:
        raise SeedError(
            f"{', '.join(f'{m.tests}/{SEED_FILE}' for m in holders)}: the audit measures one "
            "seed audit; keep the file of one suite only"
        )
    if not holders:
        return None
    module = holders[0]
    return read_seed(manifest.root, f"{module.tests}/{SEED_FILE}", module.number)


def read_seed(root: Path, source: str, module: int) -> Seed:
    """The seed audit in `source` (relative to `root`), for suite `module`."""
    try:
        raw = tomllib.loads((root / source).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SeedError(f"{source}: not valid TOML: {error}") from None
    _no_unknown(raw, TOP_FIELDS, source, "")
    estimates = _required(raw, "category_coverage", dict, "a table of marker = estimate", source)
    for marker, estimate in estimates.items():
        _expect(
            estimate, str, 'an estimate in words, like "40%"', source, f"category_coverage.{marker}"
        )
    return Seed(
        source=source,
        module=module,
        description=_required(raw, "description", str, "a string", source),
        overall_coverage=_required(raw, "overall_coverage", str, 'a string, like "40%"', source),
        category_coverage=dict(estimates),
        integration_points=_points(raw, "integration_points", source),
        missing_tests=_points(raw, "missing_tests", source),
    )


def _error(source: str, field: str, problem: str) -> SeedError:
    return SeedError(f"{source}: {field}: {problem}; {HOW_TO_FIX}")


def _no_unknown(table: dict, known: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise _error(
            source, prefix + unknown[0], f"unknown field (known: {', '.join(sorted(known))})"
        )


def _expect(value: object, kind: type, what: str, source: str, field: str):
    if not isinstance(value, kind):
        raise _error(source, field, f"expected {what}, got {value!r}")
    return value


def _required(table: dict, key: str, kind: type, what: str, source: str, prefix: str = ""):
    if key not in table:
        raise _error(source, prefix + key, f"missing; expected {what}")
    return _expect(table[key], kind, what, source, prefix + key)


def _names(table: dict, key: str, what: str, source: str, prefix: str) -> tuple[str, ...]:
    values = _expect(table.get(key, []), list, f"a list of {what}", source, prefix + key)
    for value in values:
        _expect(value, str, f"a list of {what}", source, prefix + key)
    return tuple(values)


def _points(raw: dict, key: str, source: str) -> tuple[Point, ...]:
    tables = _required(raw, key, list, "an array of tables ([[...]])", source)
    points = []
    for index, table in enumerate(tables):
        prefix = f"{key}[{index}]."
        _expect(table, dict, "a table ([[...]])", source, f"{key}[{index}]")
        _no_unknown(table, POINT_FIELDS, source, prefix)
        names = _expect(
            table.get("names", ""), str, "a regular expression", source, prefix + "names"
        )
        try:
            re.compile(names)
        except re.error as error:
            raise _error(source, prefix + "names", f"not a regular expression: {error}") from None
        evidence = Evidence(
            classes=_names(table, "classes", "test class names", source, prefix),
            markers=_names(table, "markers", "pytest markers", source, prefix),
            names=names,
        )
        if not (evidence.classes or evidence.markers or evidence.names):
            raise _error(
                source,
                f"{key}[{index}]",
                "no evidence; give classes, markers or names (or several)",
            )
        points.append(
            Point(
                name=_required(table, "name", str, "a string", source, prefix),
                seed=_required(table, "seed", str, "a string", source, prefix),
                evidence=evidence,
            )
        )
    return tuple(points)
