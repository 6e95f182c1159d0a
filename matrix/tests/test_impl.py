"""Testing another implementation (MATRIX_IMPL / --impl): where it is, what goes in its wheels,
bad input, and real runs that fail where the implementation is broken and say which one it was.
"""

import json
import re
import shutil
import zipfile

import pytest

from matrix.build import build_checkpoint_wheel, checkpoint_version, checkpoint_wheel
from matrix.impl import ImplError, resolve_implementation
from matrix.manifest import load_manifest
from matrix.tests.repo_helpers import commit_all, copy_of_this_tree, git, nox

DIGEST = re.compile(r"^[0-9a-f]{12}$")
LEARNER_ALPHA = "ALPHA = 1  # the learner's alpha\n\n\ndef alpha():\n    return ALPHA\n"


@pytest.fixture
def learner(fake_repo, tmp_path_factory):
    """A learner's copy of the fake repo's package: same modules, their own skeleton."""
    root = tmp_path_factory.mktemp("learners") / "ada"
    shutil.copytree(fake_repo / "tinytorch", root / "tinytorch")
    (root / "tinytorch/__init__.py").write_text("raise RuntimeError('the learner skeleton')\n")
    (root / "tinytorch/core/alpha.py").write_text(LEARNER_ALPHA)
    (root / "tinytorch/unlisted.py").write_text("NOT = 'shipped'\n")
    return root


def test_a_folder_holding_tinytorch_and_tinytorch_itself_mean_the_same(fake_repo, learner):
    manifest = load_manifest(fake_repo)
    outer = resolve_implementation(manifest, str(learner))
    inner = resolve_implementation(manifest, str(learner / "tinytorch"))
    assert outer == inner
    assert outer.package_dir == learner / "tinytorch"
    assert outer.label == str(learner / "tinytorch")
    assert outer.key.startswith("ada-")


def test_empty_or_this_repository_means_the_reference(fake_repo):
    manifest = load_manifest(fake_repo)
    for raw in (None, "", str(fake_repo), str(fake_repo / "tinytorch")):
        impl = resolve_implementation(manifest, raw)
        assert (impl.reference, impl.label, impl.key) == (True, "reference", "")


def test_a_folder_without_a_package_is_refused(fake_repo, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(ImplError) as refused:
        resolve_implementation(load_manifest(fake_repo), str(empty))
    assert str(refused.value) == (
        f"MATRIX_IMPL={empty}: no tinytorch package there (neither {empty}/tinytorch/core/ "
        "nor module sources); point MATRIX_IMPL (or --impl) at the folder that contains "
        "tinytorch/, at tinytorch/ itself, or at a course checkout with nbdev sources "
        "(src/NN_name/NN_name.py, modules/source/NN_name/name_dev.py or modules/NN_name/name.py)"
    )


def test_missing_module_files_are_named(fake_repo, learner):
    (learner / "tinytorch/core/beta.py").unlink()
    manifest = load_manifest(fake_repo)
    impl = resolve_implementation(manifest, str(learner))
    impl.require_files(manifest, 1)  # checkpoint 01 needs alpha only
    with pytest.raises(ImplError) as refused:
        checkpoint_version(manifest, 2, impl=impl)
    assert str(refused.value) == (
        f"{learner / 'tinytorch'} lacks tinytorch/core/beta.py, which checkpoint 02 needs; "
        "add the file(s) there, or test an earlier checkpoint"
    )


def test_wheel_holds_the_learners_modules_and_our_skeleton(fake_repo, learner, tmp_path):
    manifest = load_manifest(fake_repo)
    impl = resolve_implementation(manifest, str(learner))
    wheel = build_checkpoint_wheel(manifest, 2, tmp_path / "out", impl=impl)
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(n for n in archive.namelist() if ".dist-info/" not in n)
        alpha = archive.read("tinytorch/core/alpha.py").decode()
        skeleton = archive.read("tinytorch/__init__.py").decode()
    assert names == [
        "tinytorch/__init__.py",
        "tinytorch/_checkpoint.py",
        "tinytorch/core/__init__.py",
        "tinytorch/core/alpha.py",
        "tinytorch/core/beta.py",
        "tinytorch/extra/helper.py",
    ]
    assert alpha == LEARNER_ALPHA
    assert skeleton == (fake_repo / "tinytorch/__init__.py").read_text()
    assert checkpoint_version(manifest, 2, impl=impl) != checkpoint_version(manifest, 2)
    # beta.py is the same file in both: checkpoint 01's wheels differ only through alpha.
    assert impl.digest(manifest) != resolve_implementation(manifest, None).digest(manifest)


def test_each_implementation_builds_in_its_own_folder(fake_repo, learner):
    manifest = load_manifest(fake_repo)
    impl = resolve_implementation(manifest, str(learner))
    ours = checkpoint_wheel(manifest, 1)
    theirs = checkpoint_wheel(manifest, 1, impl=impl)
    assert ours.parent == fake_repo / "build/checkpoints/cp01"
    assert theirs.parent == fake_repo / "build/checkpoints/impl" / impl.key / "cp01"
    assert ours.is_file(), "building another implementation must not evict ours"
    assert theirs.is_file()


def test_session_with_a_package_lacking_a_module_fails_in_one_line(fake_repo_with_tools, learner):
    (learner / "tinytorch/extra/helper.py").unlink()
    run = nox(fake_repo_with_tools, "-s", "module02", env={"MATRIX_IMPL": str(learner)})
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert (
        f"Session module02 aborted: {learner / 'tinytorch'} lacks tinytorch/extra/helper.py, "
        "which checkpoint 02 needs; add the file(s) there, or test an earlier checkpoint"
    ) in output
    assert "Traceback" not in output
    [record] = (fake_repo_with_tools / "reports/impl").glob("ada-*/runs/checkpoint-02-*.json")
    assert json.loads(record.read_text())["status"] == "build failed"
    assert not (fake_repo_with_tools / "reports/runs").exists(), "the reference's runs stay"


def test_reference_copy_with_one_broken_module_fails_that_checkpoint(tmp_path_factory):
    """A real run: this tree's suites against a copy of tinytorch whose module 02 is broken."""
    root = copy_of_this_tree(tmp_path_factory.mktemp("repo") / "repo")
    learner = tmp_path_factory.mktemp("learners") / "bob"
    shutil.copytree(root / "tinytorch", learner / "tinytorch")
    activations = learner / "tinytorch/core/activations.py"
    text = activations.read_text()
    assert "out = np.maximum(a, 0)\n" in text, "test setup: ReLU's line moved"
    activations.write_text(text.replace("out = np.maximum(a, 0)\n", "out = np.maximum(a, -1)\n"))
    # Course code may greet on import; the guard compares module lists, never printed output.
    tensor = learner / "tinytorch/core/tensor.py"
    tensor.write_text(tensor.read_text() + '\nprint("Welcome! Tensor loaded.")\n')

    env = {"MATRIX_IMPL": str(learner)}
    run = nox(root, "-s", "module01", "module02", env=env)
    assert run.returncode != 0, run.stdout + run.stderr
    [runs] = (root / "reports/impl").glob("bob-*/runs")
    records = {p.name[:13]: json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))}
    assert {name: r["status"] for name, r in records.items()} == {
        "checkpoint-01": "passed",
        "checkpoint-02": "failed",
    }
    assert {r["implementation"] for r in records.values()} == {str(learner / "tinytorch")}
    [digest] = {r["implementation_digest"] for r in records.values()}
    assert DIGEST.match(digest)
    # The guard (run first in every checkpoint) compared the installed files with bob's.
    assert records["checkpoint-01"]["suites"]["guard"]["failed"] == 0
    assert records["checkpoint-02"]["suites"]["02_activations"]["failed"] > 0
    assert records["checkpoint-02"]["suites"]["01_tensor"]["failed"] == 0

    report = nox(root, "-s", "report", env=env)
    assert f"implementation: {learner / 'tinytorch'} (module files sha256 {digest})" in (
        report.stdout
    )
    assert not (root / "reports/runs").exists(), "the reference's records are untouched"


def test_gate_with_impl_reports_the_failing_checkpoint_and_which_code(fake_repo_for_gate, learner):
    root = fake_repo_for_gate
    (learner / "tinytorch/core/beta.py").write_text(
        "from tinytorch.core.alpha import alpha\n\n\ndef beta():\n    return alpha() + 5\n"
    )
    git(root, "checkout", "-q", "-b", "feature")
    beta_test = root / "tests/02_beta/test_beta.py"
    beta_test.write_text(beta_test.read_text() + "\n\nEXTRA = 1\n")
    commit_all(root, "suite 02: a constant")

    run = nox(root, "-s", "gate", "--", "--base", "main", "--impl", str(learner))
    assert run.returncode != 0, run.stdout + run.stderr
    [report] = (root / "reports/impl").glob("ada-*/gate.md")
    text = report.read_text()
    assert text.startswith("## Gate: NO-GO\n")
    assert f"; implementation: {learner / 'tinytorch'} (module files sha256 `" in text
    assert "- checkpoint 02: failed; failing: `tests.02_beta.test_beta::test_beta`\n" in text
    assert "| vacuity 02 | passed (every test fails with the module stubbed) |" in text
    assert "| lint | passed |" in text


def test_a_third_party_import_is_named_until_it_is_stated(fake_repo_with_tools, learner):
    alpha = learner / "tinytorch/core/alpha.py"
    # (with a banner on import: the probe's own line is read, not whatever is printed)
    alpha.write_text(
        'print("Welcome!")\n\nimport six\n'
        + LEARNER_ALPHA.replace("ALPHA = 1 ", "ALPHA = six.PY3 ")
    )
    env = {"MATRIX_IMPL": str(learner)}
    run = nox(fake_repo_with_tools, "-s", "module01", env=env)
    assert run.returncode != 0
    said = (
        "tinytorch/core/alpha.py imports six, which is not installed; state the package that "
        f"provides it in {learner}/pyproject.toml ([project] dependencies) or in "
        "MATRIX_IMPL_DEPENDENCIES (e.g. MATRIX_IMPL_DEPENDENCIES=six)"
    )
    assert f"Session module01 aborted: checkpoint 01: {said}" in run.stdout + run.stderr
    [record] = (fake_repo_with_tools / "reports/impl").glob("ada-*/runs/checkpoint-01-*.json")
    assert json.loads(record.read_text())["status"] == "install failed"
    assert json.loads(record.read_text())["detail"] == said

    (learner / "pyproject.toml").write_text('[project]\nname = "ada"\ndependencies = ["six"]\n')
    run = nox(fake_repo_with_tools, "-s", "module01", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(record.read_text())["status"] == "passed"
