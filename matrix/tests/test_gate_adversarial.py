"""The real gate against branches that weaken a suite while every test stays green.

The fake repo (modules 01 alpha and 02 beta) first gets, on main, a bigger suite 02 (suite 02
plays the course's suite 08) and a catalog of planted bugs that suite 02 catches. Then each
test makes one adversarial branch and runs `nox -s gate -- --base main`: NO-GO, with the
reason named in "Why NO-GO" (one line per kind of item, its subjects quoted). The last tests
take the acknowledgement path: the same deletion, accepted by a `Gate-Accept:` trailer or by
`--accept`, is GO and the report says who accepted what.
"""

import shutil

import pytest

from matrix.tests.repo_helpers import commit_all, git, nox, write_files

# Each test runs the gate once or twice (build, install, checkpoints, vacuity, lint, the
# base's side, planted bugs): tens of seconds each.
pytestmark = pytest.mark.timeout(600)

SUITE = "tests/02_beta"
MORE = f"{SUITE}/test_more.py"
# Exact values of beta(), each a test that fails when beta is stubbed (vacuity) and when
# either planted bug below is in (beta() == 3, beta() == 1).
MORE_TESTS = (
    "from tinytorch.core.alpha import alpha\n"
    "from tinytorch.core.beta import BETA, beta\n\n\n"
    "def test_beta_is_two():\n    assert beta() == 2\n\n\n"
    "def test_beta_is_one_more_than_alpha():\n    assert beta() == alpha() + 1\n\n\n"
    "def test_beta_twice_is_four():\n    assert beta() + beta() == 4\n\n\n"
    "def test_beta_matches_its_constant():\n    assert beta() == BETA\n\n\n"
    "def test_beta_squared_is_four():\n    assert beta() ** 2 == 4\n"
)
MORE_NAMES = (
    "test_beta_is_two",
    "test_beta_is_one_more_than_alpha",
    "test_beta_twice_is_four",
    "test_beta_matches_its_constant",
    "test_beta_squared_is_four",
)
# Half of suite 02 (3 of its 6 tests), all from test_more.py: test_beta.py's beta() == 2 still
# catches both planted bugs.
DELETED = MORE_NAMES[2:]
HALF_MORE_TESTS = (
    "from tinytorch.core.alpha import alpha\n"
    "from tinytorch.core.beta import beta\n\n\n"
    "def test_beta_is_two():\n    assert beta() == 2\n\n\n"
    "def test_beta_is_one_more_than_alpha():\n    assert beta() == alpha() + 1\n"
)
SUITE_TESTS = [f"{SUITE}/test_beta.py::test_beta"] + [f"{MORE}::{name}" for name in MORE_NAMES]
CATALOG = {
    "mutants/01_alpha.toml": (
        '[[mutant]]\nid = "alpha-off-by-one"\nfile = "tinytorch/core/alpha.py"\n'
        'category = "typical"\nfind = "ALPHA = 1"\nreplace = "ALPHA = 2"\n'
        'why = "the constant is wrong"\n'
    ),
    "mutants/02_beta.toml": (
        '[[mutant]]\nid = "beta-off-by-one"\nfile = "tinytorch/core/beta.py"\n'
        'category = "typical"\nfind = "return alpha() + 1"\nreplace = "return alpha() + 2"\n'
        'why = "one too many"\n\n'
        '[[mutant]]\nid = "beta-forgets-the-one"\nfile = "tinytorch/core/beta.py"\n'
        'category = "typical"\nfind = "return alpha() + 1"\nreplace = "return alpha()"\n'
        'why = "the increment is lost"\n'
    ),
}
MUTANTS_02 = ["02:beta-off-by-one", "02:beta-forgets-the-one"]
ACCEPT_DELETION = f"removed test: {MORE}::*"


@pytest.fixture
def beta_repo(fake_repo_for_gate):
    """The fake repo with suite 02 of six value tests and its two planted bugs, on main."""
    root = write_files(fake_repo_for_gate, {MORE: MORE_TESTS, **CATALOG})
    commit_all(root, "suite 02: more value tests, two planted bugs")
    return root


def branch(root, name: str, files: dict[str, str], message: str) -> None:
    git(root, "checkout", "-q", "-b", name)
    write_files(root, files)
    commit_all(root, message)


def gate(root, *extra: str):
    """`nox -s gate -- --base main`: the run and reports/gate.md."""
    run = nox(root, "-s", "gate", "--", "--base", "main", *extra)
    report = (root / "reports/gate.md").read_text()
    return run, report


def no_go(root, *extra: str) -> str:
    run, report = gate(root, *extra)
    assert run.returncode != 0, report
    assert report.startswith("## Gate: NO-GO\n"), report
    return report


def why_no_go(report: str) -> list[str]:
    """The reasons listed under **Why NO-GO**."""
    assert "**Why NO-GO**\n\n" in report, report
    section = report.split("**Why NO-GO**\n\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


def why_line(report: str, kind: str) -> str:
    """The one Why-NO-GO line of the open items of `kind`."""
    lines = [line for line in why_no_go(report) if line.startswith(f"- {kind}: ")]
    assert len(lines) == 1, f"one '{kind}' line expected in:\n{report}"
    return lines[0]


def listed(subjects: list[str]) -> str:
    """How a Why-NO-GO line lists subjects: quoted, five shown, then 'and N more'."""
    shown = ", ".join(f"`{subject}`" for subject in subjects[:5])
    return shown + (f" and {len(subjects) - 5} more" if len(subjects) > 5 else "")


def open_items(kind: str, subjects: list[str]) -> str:
    return f"- {kind}: {len(subjects)} not acknowledged: {listed(subjects)}"


def test_every_test_of_suite_02_skip_marked(beta_repo):
    root = beta_repo
    marked = {
        path: text.replace(
            "\n\n\ndef ",
            '\n\npytestmark = pytest.mark.skip(reason="beta is being rewritten")\n\n\ndef ',
            1,
        )
        for path, text in {
            f"{SUITE}/test_beta.py": (root / SUITE / "test_beta.py").read_text(),
            MORE: MORE_TESTS,
        }.items()
    }
    # As ruff sorts them in the fake repo (lint runs in the gate): tinytorch is first-party.
    marked = {path: "import pytest\n\n" + text for path, text in marked.items()}
    branch(root, "skip-suite-02", marked, "suite 02: skipped while beta is rewritten")

    report = no_go(root)
    assert open_items("skip marker", sorted(SUITE_TESTS)) in why_no_go(report)
    assert open_items("skipped", ["beta is being rewritten"]) in why_no_go(report)
    assert why_line(report, "vacuity 02").startswith(
        "- vacuity 02: 6 test(s) not failing with the module stubbed: "
    )
    assert open_items("mutant survives", MUTANTS_02) in why_no_go(report)
    assert "| lint | passed |" in report, "the branch is clean apart from what it does"


def test_conftest_that_skips_suite_02_when_beta_is_there(beta_repo):
    root = beta_repo
    conftest = (
        "import importlib.util\n\nimport pytest\n\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def _beta_not_ready():\n"
        '    if importlib.util.find_spec("tinytorch.core.beta") is not None:\n'
        '        pytest.skip("beta is not ready yet")\n'
    )
    branch(root, "conftest-skips", {f"{SUITE}/conftest.py": conftest}, "suite 02: a conftest")

    report = no_go(root)
    reasons = why_no_go(report)
    assert open_items("conftest", [f"{SUITE}/conftest.py"]) in reasons
    assert open_items("skipped", ["beta is not ready yet"]) in reasons
    assert f"- conftest: `{SUITE}/conftest.py` (added)" in report
    # Skipped at run time, nothing marked: suite 02 proves nothing, stubbed or mutated.
    assert why_line(report, "vacuity 02").startswith(
        "- vacuity 02: 6 test(s) not failing with the module stubbed: "
    )
    assert open_items("mutant survives", MUTANTS_02) in reasons
    assert "| lint | passed |" in report


def test_half_of_suite_02_deleted_then_accepted_on_the_command_line(beta_repo):
    root = beta_repo
    branch(root, "trim-suite-02", {MORE: HALF_MORE_TESTS}, "suite 02: fewer tests")
    deleted = sorted(f"{MORE}::{name}" for name in DELETED)

    report = no_go(root)
    assert why_no_go(report) == [open_items("removed test", deleted)], report
    for nodeid in deleted:
        assert (
            f"- removed test: `{nodeid}` (the base collects it at checkpoint(s) 02, the head not)"
        ) in report

    run, report = gate(root, "--accept", ACCEPT_DELETION)
    assert run.returncode == 0, report
    assert report.startswith("## Gate: GO\n"), report
    assert_accepted(report, deleted, "--accept")


def test_value_checks_weakened_let_the_planted_bugs_through(beta_repo):
    root = beta_repo
    weak = {
        f"{SUITE}/test_beta.py": (
            "from tinytorch.core.beta import beta\n\n\n"
            "def test_beta():\n    assert beta() is not None\n"
        ),
        MORE: "from tinytorch.core.beta import beta\n"
        + "".join(f"\n\ndef {name}():\n    assert beta() is not None\n" for name in MORE_NAMES),
    }
    branch(root, "weaken-suite-02", weak, "suite 02: simpler assertions")

    report = no_go(root)
    assert why_no_go(report) == [open_items("mutant survives", MUTANTS_02)], report
    for mutant in MUTANTS_02:
        assert (
            f"- mutant survives: `{mutant}` (the base's suites catch it "
            "(tests.02_beta.test_beta::test_beta), the head's do not; "
        ) in report
    assert "| vacuity 02 | passed (every test fails with the module stubbed) |" in report


def test_module_02_removed_entirely(beta_repo):
    root = beta_repo
    git(root, "checkout", "-q", "-b", "drop-beta")
    manifest = root / "matrix/modules.toml"
    text = manifest.read_text()
    manifest.write_text(text[: text.index("[[module]]\nnumber = 2")].rstrip() + "\n")
    for path in ("tinytorch/core/beta.py", "mutants/02_beta.toml"):
        (root / path).unlink()
    for folder in ("tinytorch/extra", SUITE):
        shutil.rmtree(root / folder)
    commit_all(root, "module 02 is gone")

    report = no_go(root)
    reasons = why_no_go(report)
    assert open_items("removed module", ["02"]) in reasons
    assert open_items("removed suite", [SUITE]) in reasons
    assert why_line(report, "removed test")
    removed = {
        line.split("`")[1] for line in report.splitlines() if line.startswith("- removed test: `")
    }
    # What the head no longer collects: the guard's case for module 02 (and suite 02's tests,
    # which the head cannot even import: "removed suite" names them). Suite 01 and the rest
    # of the guard still run at the head's checkpoint 01: not removed.
    guard_02 = "tests/test_checkpoint_guard.py::test_module_present_exactly_when_in_checkpoint[02]"
    assert removed - set(SUITE_TESTS) == {guard_02}, report


def test_guard_weakened_while_the_build_injects_code(beta_repo):
    root = beta_repo
    guard = root / "tests/test_checkpoint_guard.py"
    compare = (
        'if (installed / Path(path).relative_to("tinytorch")).read_bytes() != source.read_bytes()'
    )
    build = root / "matrix/build.py"
    honest = "        return source.read_bytes()\n"
    assert guard.read_text().count(compare) == 1
    assert build.read_text().count(honest) == 1
    git(root, "checkout", "-q", "-b", "guard-and-build")
    guard.write_text(
        guard.read_text().replace(
            compare, 'if not (installed / Path(path).relative_to("tinytorch")).is_file()'
        )
    )
    build.write_text(
        build.read_text().replace(
            honest, '        return source.read_bytes() + b"\\nINJECTED = True\\n"\n'
        )
    )
    commit_all(root, "the guard checks the wheel holds each file; the build stamps them")

    report = no_go(root)
    reasons = why_no_go(report)
    assert open_items("guard", ["tests/test_checkpoint_guard.py"]) in reasons
    injected = (
        "tests/test_checkpoint_guard.py::test_installed_files_are_the_implementation_under_test"
    )
    assert open_items("base guard fails", [f"01 {injected}", f"02 {injected}"]) in reasons
    assert (
        "- the harness changed (`matrix/build.py`, `tests/test_checkpoint_guard.py`): the "
        "base's guard ran on the head's checkpoint(s) 01, 02\n"
    ) in report
    # The head's own (weakened) guard passes at its checkpoints: only the base's sees it.
    assert "| 01 | passed |" in report
    assert "| 02 | passed |" in report


def test_broken_manifest_replaces_an_earlier_go(beta_repo):
    root = beta_repo
    git(root, "checkout", "-q", "-b", "break-manifest")
    run, report = gate(root)
    assert run.returncode == 0, report
    assert report.startswith("## Gate: GO\n"), report

    manifest = root / "matrix/modules.toml"
    manifest.write_text(manifest.read_text() + "\n[[module]\nnumber = 3\n")
    commit_all(root, "a manifest entry, half written")

    report = no_go(root)
    assert "matrix/modules.toml: not valid TOML" in report, report
    assert "GO" not in report.replace("NO-GO", ""), report


def test_half_of_suite_02_deleted_with_a_gate_accept_trailer(beta_repo):
    root = beta_repo
    git(root, "checkout", "-q", "-b", "trim-suite-02-accepted")
    write_files(root, {MORE: HALF_MORE_TESTS})
    git(root, "add", "-A")
    git(
        root, "commit", "-q", "-m", "suite 02: fewer tests", "-m", f"Gate-Accept: {ACCEPT_DELETION}"
    )
    commit = git(root, "rev-parse", "HEAD").strip()

    run, report = gate(root)
    assert run.returncode == 0, report
    assert report.startswith("## Gate: GO\n"), report
    assert_accepted(
        report, [f"{MORE}::{name}" for name in DELETED], f"trailer of commit {commit[:12]}"
    )
    assert "Acknowledgements that matched nothing" not in report


def assert_accepted(report, nodeids, source):
    """Each deleted test is listed under Acknowledged:, with the acknowledgement and its source."""
    acknowledged = report.split("Acknowledged:\n\n", 1)[1]
    for nodeid in nodeids:
        assert (
            f"- removed test: `{nodeid}` (the base collects it at checkpoint(s) 02, the head "
            f"not), accepted by `{ACCEPT_DELETION}` ({source})\n"
        ) in acknowledged
