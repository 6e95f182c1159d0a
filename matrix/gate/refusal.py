"""A gate verdict for a tree nox cannot even load: a broken matrix/modules.toml.

The noxfile stops at import when the manifest is broken, before any session, the gate's
included, can run. An earlier GO in the gate report would then still be there to read as this
tree's verdict; the noxfile replaces it with NO-GO and the manifest's error first.
"""

from __future__ import annotations

from matrix.atomic import write_atomically
from matrix.gate.render import render
from matrix.gate.run import GATE_REPORT
from matrix.gate.verdict import GateResult
from matrix.layout import Layout
from matrix.manifest import ManifestError


def refuse_broken_manifest(layout: Layout, impl: str | None, error: ManifestError) -> None:
    """Write NO-GO, naming the manifest error, to the gate report of the layout; impl is what
    was pointed at (None: the reference)."""
    result = GateResult(
        problems=[
            f"the module manifest is broken: {error} (python -m matrix check says the same); "
            "then run the gate again: nox -s gate -- --base REF"
        ]
    )
    # What was pointed at: it cannot be resolved without a manifest.
    result.implementation = impl or result.implementation
    write_atomically(layout.at(layout.report(GATE_REPORT)), render(result))
