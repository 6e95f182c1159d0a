"""The gate's planted bugs: does the branch leave its modules' suites as sharp as the base's?

Every planted bug (mutants/, matrix/mutant_catalog.py) of a module whose code, suite or catalog
changed is planted in the head's code and run against the head's suites. One the head's suites
let through is run against the base's suites too, on the same mutated code: if the base's
catch it, the branch weakened them (an assertion loosened, a test deleted) and the item names
the test that caught it on the base. A planted bug the base's catalog has and the head's does
not is an item too: deleting the bug that a weakened suite misses must not hide it.
"""

from __future__ import annotations

from pathlib import Path

from matrix.gate.base import BaseFindings, HeadEnvironments
from matrix.gate.items import MUTANT_SURVIVES, REMOVED_MUTANT, Item
from matrix.manifest import Manifest
from matrix.mutant_catalog import CATALOG_DIR, CatalogError, Mutant, load_catalog
from matrix.sessions.mutants import (
    CAUGHT,
    STALE,
    SURVIVED,
    MutantResult,
    MutantRunError,
    Runner,
    checkpoint_packages,
    run_all,
)


def compare_mutants(
    head: HeadEnvironments, base_tree: Path, base: Manifest, modules: list[int], workers: int
) -> BaseFindings:
    findings = BaseFindings()
    if not modules:
        return findings
    try:
        planted = [m for m in load_catalog(head.manifest) if m.module in modules]
        before = [m for m in load_catalog(base, base_tree) if m.module in modules]
    except CatalogError as error:
        findings.problems.append(f"the catalog of planted bugs cannot be read: {error}")
        return findings
    kept = {mutant.id for mutant in planted}
    findings.items += [
        Item(REMOVED_MUTANT, mutant.id, mutant.why) for mutant in before if mutant.id not in kept
    ]
    for number in sorted(set(modules) - {mutant.module for mutant in planted}):
        module = head.manifest.module(number)
        findings.problems.append(
            f"module {module.label} has no planted bugs, so the gate cannot tell whether its "
            f"suite got weaker; add some to {CATALOG_DIR / module.suite}.toml "
            "(format: matrix/mutant_catalog.py)"
        )
    if not planted:
        return findings
    newest = head.manifest.numbers[-1]
    pytest = head.pytest(newest)
    if not pytest.is_file():
        findings.problems.append(f"planted bugs not run: checkpoint {newest:02d} left no pytest")
        return findings
    packages = checkpoint_packages(
        head.manifest,
        head.impl,
        sorted({*modules, newest}),
        head.layout.at(head.layout.gate_packages),
    )

    def runner(tests_root: Path, manifest: Manifest, side: str) -> Runner:
        suites = {module.number: module.tests for module in manifest.modules}
        return Runner(pytest, tests_root, suites, packages, head.options, head.work / side)

    try:
        results = run_all(runner(head.root, head.manifest, "mutants-head"), planted, workers)
        through = [
            mutant
            for mutant, result in zip(planted, results, strict=True)
            if result.outcome == SURVIVED and mutant.module in base.numbers
        ]
        judged = run_all(runner(base_tree, base, "mutants-base"), through, workers)
    except MutantRunError as error:
        findings.problems.append(f"planted bugs could not be judged: {error}")
        return findings
    by_base = {result.id: result for result in judged}
    for mutant, result in zip(planted, results, strict=True):
        if result.outcome == STALE:
            findings.problems.append(
                f"planted bug {mutant.id} no longer applies to the head's {mutant.file}: its "
                f"find text is not there exactly once; update it in "
                f"{CATALOG_DIR / head.manifest.module(mutant.module).suite}.toml"
            )
        elif result.outcome == SURVIVED:
            findings.items.append(_survivor(mutant, by_base.get(mutant.id)))
    findings.done.append(_summary(modules, results, len(judged)))
    return findings


def _survivor(mutant: Mutant, base: MutantResult | None) -> Item:
    if base is not None and base.caught_by:
        said = f"the base's suites catch it ({base.caught_by}), the head's do not"
    else:
        said = "neither the head's suites nor the base's catch it"
    return Item(MUTANT_SURVIVES, mutant.id, f"{said}; {mutant.why}")


def _summary(modules: list[int], results: list[MutantResult], judged_by_base: int) -> str:
    caught = [result for result in results if result.caught_by]
    own = sum(result.outcome == CAUGHT for result in caught)
    labels = ", ".join(f"{number:02d}" for number in modules)
    text = (
        f"planted bugs of module(s) {labels}: {len(results)} planted in the head's code, "
        f"{len(caught)} caught by the head's suites ({own} at their own checkpoint)"
    )
    if judged_by_base:
        text += f"; {judged_by_base} not caught were run against the base's suites"
    return text
