"""What every session is handed: the module manifest, the layout of what it makes, and
pyproject.toml; decided once where nox starts (noxfile.py) and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matrix.layout import Layout
from matrix.manifest import Manifest


@dataclass(frozen=True)
class Project:
    manifest: Manifest
    layout: Layout
    pyproject: dict

    @property
    def root(self) -> Path:
        return self.manifest.root
