"""The import-linter contracts that keep the code layered.

tinytorch: module N may import only modules with smaller numbers. The layers are the
manifest's modules in reverse course order, generated, so adding a module extends the contract
without anyone editing it.

matrix: the tool's own floors, written out, since they are its architecture (README, "Where
things live"): the commands on top, then the two wings (the gate and the audit, which never
import each other), the session bodies, what the sessions share, the records they read and
write, and at the bottom the facts everything reads (the manifest, the layout, git, atomic
files). A lower floor never imports a higher one; rooms joined by ':'
on one floor may import each other, rooms joined by '|' may not.
"""

from __future__ import annotations

from matrix.manifest import PACKAGE_DIR, Manifest

TOOL_PACKAGE = "matrix"
TOOL_FLOORS = (
    "__main__ | ci_matrix",  # commands
    "gate | audit",  # wings
    "sessions",
    # shared
    "pytest_env : pytest_plugins : project : tables : misplaced : mutant_catalog : layering"
    " : build : stub",
    "records : junit : impl : course_sources : run_identity",  # records
    "layout : manifest : atomic : git",  # facts
)


def importlinter_config(manifest: Manifest) -> str:
    modules = "".join(f"    {module.import_name}\n" for module in reversed(manifest.modules))
    floors = "".join(f"    {floor}\n" for floor in TOOL_FLOORS)
    return (
        f"[importlinter]\nroot_packages =\n    {PACKAGE_DIR}\n    {TOOL_PACKAGE}\n\n"
        "[importlinter:contract:course-order]\n"
        "name = module N imports only modules with smaller numbers (matrix/modules.toml)\n"
        "type = layers\n"
        f"layers =\n{modules}\n"
        "[importlinter:contract:matrix-floors]\n"
        "name = the matrix tool's floors: commands, wings, sessions, shared, records, facts\n"
        "type = layers\n"
        f"containers =\n    {TOOL_PACKAGE}\n"
        "exhaustive = true\n"
        "exhaustive_ignores =\n    tests\n    nbdev_export\n"
        f"layers =\n{floors}"
    )
