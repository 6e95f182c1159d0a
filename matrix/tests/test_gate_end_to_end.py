"""The real gate, `nox -s gate -- --base main`, in throwaway git repositories.

1. The fake repo: a test that needs module 02 dropped into tests/01_alpha (the audit's
   blocker in miniature) is NO-GO, named, confirmed by checkpoint 01's own collection error;
   moving it to tests/02_beta is GO.
2. A copy of this tree where a branch adds module 09: every checkpoint, 01..09, runs for real,
   and vacuity09 and lint with them (the slow one: a minute or two).
"""

import pytest

from matrix.tests.repo_helpers import (
    add_module_09,
    commit_all,
    copy_of_this_tree,
    git,
    make_repository,
    nox,
)

NEEDS_BETA = (
    "from tinytorch.core.beta import beta\n\n\ndef test_uses_beta():\n    assert beta() == 2\n"
)


def test_misplaced_test_is_no_go_confirmed_then_go_once_moved(fake_repo_for_gate):
    root = fake_repo_for_gate
    git(root, "checkout", "-q", "-b", "feature")
    (root / "tests/01_alpha/test_uses_beta.py").write_text(NEEDS_BETA)
    commit_all(root, "a beta test, filed under alpha")

    run = nox(root, "-s", "gate", "--", "--base", "main")
    assert run.returncode != 0, run.stdout + run.stderr
    report = (root / "reports/gate.md").read_text()
    assert report in run.stdout, "the report is printed too"
    assert report.startswith("## Gate: NO-GO\n")
    assert (
        "- checkpoint 01: failed; failing: `tests/01_alpha/test_uses_beta.py (could not be "
        "collected)`\n"
    ) in report
    assert (
        "- misplaced test: tests/01_alpha/test_uses_beta.py imports tinytorch.core.beta "
        "(module 02, line 1): it cannot run at checkpoint 01; move it to tests/02_beta/ "
        "[confirmed: checkpoint 01 could not import it]\n"
    ) in report
    # 6 guard tests; then at 01 test_alpha and the uncollectable file, at 02 all three.
    assert "| 01 | failed | 7/1/0 | `tests/01_alpha/test_uses_beta.py` |" in report
    assert "| 02 | passed | 9/0/0 | `tests/01_alpha/test_uses_beta.py` |" in report
    # Suite 01 cannot be judged test by test while a file of it cannot be collected.
    assert "| vacuity 01 | failed: 1 vacuous (listed below) |" in report
    assert "- `tests/01_alpha/test_uses_beta.py (not collected)`\n" in report
    assert "| lint | passed |" in report

    git(root, "mv", "tests/01_alpha/test_uses_beta.py", "tests/02_beta/test_uses_beta.py")
    commit_all(root, "move the beta test where it belongs")
    run = nox(root, "-s", "gate", "--", "--base", "main")
    assert run.returncode == 0, run.stdout + run.stderr
    report = (root / "reports/gate.md").read_text()
    assert report.startswith("## Gate: GO\n")
    # Net of both commits the file was added to tests/02_beta: checkpoint 02 only.
    assert "| 02 | passed | 9/0/0 | `tests/02_beta/test_uses_beta.py` |" in report
    assert "Skipped: checkpoint(s) 01: no changed file reaches them" in report
    assert "| vacuity 02 | passed (every test fails with the module stubbed) |" in report


# Nine real checkpoints (about two minutes on two cores); the default 300 s is for one test.
@pytest.mark.timeout(1200)
def test_new_module_09_is_gated_for_real(tmp_path):
    root = make_repository(copy_of_this_tree(tmp_path / "clone"))
    add_module_09(root)

    run = nox(root, "-s", "gate", "--", "--base", "main")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    report = (root / "reports/gate.md").read_text()
    assert report.startswith("## Gate: GO\n")
    rows = [line for line in report.splitlines() if line.startswith("| 0")]
    assert [row.split(" | ")[:2] for row in rows] == [
        [f"| {number:02d}", "passed"] for number in range(1, 10)
    ]
    assert rows[0].endswith("| `matrix/modules.toml` |")
    assert rows[8].endswith(
        "| `matrix/modules.toml`, `mutants/09_spatial.toml`, `tests/09_spatial/test_spatial.py` "
        "and 1 more |"
    )
    assert "| vacuity 09 | passed (every test fails with the module stubbed) |" in report
    assert "| lint | passed |" in report
    assert "| `tinytorch/core/spatial.py` | 09 | module 09 code |" in report
    assert (
        "- planted bugs of module(s) 09: 1 planted in the head's code, 1 caught by the head's "
        "suites (1 at their own checkpoint)\n"
    ) in report
