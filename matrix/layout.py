"""Where the matrix keeps what it makes: every path under reports/, build/ and .nox/.

One Layout per implementation under test, decided where a command starts (the noxfile,
`python -m matrix`, the gate) and passed down; no module reads the environment for a path
when it is imported. Paths under reports/ are relative to the repository root, as reports
print them; `at` makes any of them absolute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPORTS = Path("reports")
BUILD = Path("build")
NOX_ENVS = Path(".nox")
# Another implementation's files go one folder deeper, under its key (matrix/impl.py), so
# testing a learner's package never overwrites the reference's records, nor another learner's.
IMPL_FOLDER = "impl"


@dataclass(frozen=True)
class Layout:
    root: Path
    # implementation_key of the implementation under test; "" for the reference.
    impl_key: str = ""
    # MATRIX_REPORTS_DIR, when given: the reports folder itself (the benchmark's runs go there).
    reports_override: Path | None = None

    def at(self, path: Path) -> Path:
        return self.root / path

    @property
    def _impl_part(self) -> Path:
        return Path(IMPL_FOLDER, self.impl_key) if self.impl_key else Path()

    # reports/: what a run says.
    @property
    def reports(self) -> Path:
        return self.reports_override or REPORTS / self._impl_part

    @property
    def runs(self) -> Path:
        """One JSON record per checkpoint run (matrix/records.py)."""
        return self.reports / "runs"

    @property
    def junit(self) -> Path:
        return self.reports / "junit"

    @property
    def reference_runs(self) -> Path:
        """The reference's records, whatever this layout's implementation: they say how many
        tests each file held when a file later cannot be collected."""
        return REPORTS / "runs"

    @property
    def vacuity(self) -> Path:
        return self.reports / "vacuity"

    @property
    def audit_work(self) -> Path:
        """Per-module collections, outcomes and coverage data of `nox -s audit`."""
        return self.reports / "audit"

    @property
    def bench(self) -> Path:
        return self.reports / "bench"

    def report(self, name: str) -> Path:
        """A report file of its own: matrix.md, audit.json, gate.md, mutants.json, ..."""
        return self.reports / name

    # build/: what a run makes and may reuse.
    @property
    def checkpoint_wheels(self) -> Path:
        return BUILD / "checkpoints" / self._impl_part

    @property
    def bytecode(self) -> Path:
        return BUILD / "bytecode" / self._impl_part

    @property
    def impl_work(self) -> Path:
        """What the matrix made for another implementation: its export, its made files."""
        return BUILD / IMPL_FOLDER / self.impl_key

    @property
    def gate_work(self) -> Path:
        return BUILD / "gate" / "work" / self._impl_part

    @property
    def gate_base_trees(self) -> Path:
        return BUILD / "gate" / "base"

    @property
    def gate_packages(self) -> Path:
        return BUILD / "gate" / "packages" / self._impl_part

    # .nox/: the sessions' environments.
    @property
    def nox_envs(self) -> Path:
        return NOX_ENVS / self._impl_part
