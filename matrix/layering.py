"""The import-linter contract that keeps modules layered, generated from the manifest.

Module N may import only modules with smaller numbers. The layers are the manifest's modules
in reverse course order, so adding a module extends the contract without anyone editing it.
"""

from __future__ import annotations

from matrix.manifest import PACKAGE_DIR, Manifest


def importlinter_config(manifest: Manifest) -> str:
    layers = "".join(f"    {module.import_name}\n" for module in reversed(manifest.modules))
    return (
        f"[importlinter]\nroot_package = {PACKAGE_DIR}\n\n"
        "[importlinter:contract:course-order]\n"
        "name = module N imports only modules with smaller numbers (matrix/modules.toml)\n"
        "type = layers\n"
        f"layers =\n{layers}"
    )
