"""A course checkout's nbdev sources as an implementation: found, exported by nbdev, completed.

The fixtures are small percent-format sources written here by hand, in the three layouts a
course uses. The export itself is nbdev's, run by uv (pyproject's `export` group).
"""

import json
import subprocess
import sys
import zipfile

import pytest

from matrix.build import build_checkpoint_wheel
from matrix.course_sources import find_course_sources
from matrix.impl import (
    DEPENDENCIES_ENV,
    ImplError,
    implementation_key,
    layout_of,
    resolve_implementation,
)
from matrix.junit import JunitCounts
from matrix.manifest import load_manifest
from matrix.pytest_env import MISSING_IMPORT_PROBE, checkpoint_env
from matrix.records import ExtrasCount, SuiteCount
from matrix.sessions.checkpoint_status import failed_run_status
from matrix.tests.repo_helpers import ALPHA_SOURCE, BETA_SOURCE, REPO_ROOT, nox, write_files


def test_each_layout_is_found_and_src_wins(tmp_path):
    write_files(
        tmp_path,
        {
            "src/01_alpha/01_alpha.py": ALPHA_SOURCE,
            "modules/01_alpha/alpha.py": "# an older copy\n",
            "modules/source/02_beta/beta_dev.py": BETA_SOURCE,
            "modules/03_gamma/notes.py": "# not named after its folder: not a source\n",
        },
    )
    sources = find_course_sources(tmp_path, (1, 2, 3))
    assert sources is not None
    assert [path.relative_to(tmp_path).as_posix() for path in sources.files] == [
        "src/01_alpha/01_alpha.py",
        "modules/source/02_beta/beta_dev.py",
    ]
    assert sources.describe() == (
        "src/NN_name/NN_name.py and modules/source/NN_name/name_dev.py sources, exported by nbdev"
    )
    assert find_course_sources(tmp_path / "src", (1, 2)) is None


def test_sources_are_exported_as_nbdev_does(fake_repo, course):
    manifest = load_manifest(fake_repo)
    impl = resolve_implementation(manifest, str(course))
    assert impl.label == f"{course} (modules/NN_name/name.py sources, exported by nbdev)"
    exported = impl.source(manifest, "tinytorch/core/alpha.py")
    assert exported.is_relative_to(fake_repo / "build/impl")
    text = exported.read_text()
    assert "def alpha():" in text
    assert "ALPHA = 1" in text
    assert "a test cell" not in text
    assert "NOT_EXPORTED" not in text
    assert "# Alpha" not in text  # markdown is never code
    namespace = {}
    exec(compile(text, str(exported), "exec"), namespace)
    assert namespace["alpha"]() == 1
    assert namespace["__all__"] == ["ALPHA", "alpha"]  # nbdev's own __all__
    again = resolve_implementation(manifest, str(course))
    assert again == impl, "an unchanged checkout is exported once"


def test_edited_sources_are_exported_again(fake_repo, course):
    manifest = load_manifest(fake_repo)
    before = resolve_implementation(manifest, str(course))
    source = course / "modules/01_alpha/alpha.py"
    source.write_text(source.read_text().replace("ALPHA = 1", "ALPHA = 5"))
    after = resolve_implementation(manifest, str(course))
    assert "ALPHA = 5" in after.source(manifest, "tinytorch/core/alpha.py").read_text()
    assert after.digest(manifest) != before.digest(manifest)
    assert after.key == before.key, "one checkout keeps one place for its runs"
    assert not before.package_dir.exists(), "the older export is removed"


def test_the_package_folder_itself_means_the_package_beside_the_sources(fake_repo, course):
    manifest = load_manifest(fake_repo)
    package = resolve_implementation(manifest, str(course / "tinytorch"))
    sources = resolve_implementation(manifest, str(course))
    assert package.package_dir == course / "tinytorch"
    assert package.source(manifest, "tinytorch/core/alpha.py").read_text() == (
        "ALPHA = 'an older export'\n"
    )
    assert package.key != sources.key

    def envs(raw):
        return layout_of(REPO_ROOT, raw).nox_envs.as_posix()

    assert envs(str(course)) != envs(str(course / "tinytorch"))
    assert envs(str(course)) == f".nox/impl/{implementation_key(course)}"
    assert envs(None) == envs(str(REPO_ROOT)) == ".nox"


def test_a_source_without_default_exp_is_named_with_the_fix(fake_repo, course):
    beta = course / "modules/02_beta/beta.py"
    beta.write_text(beta.read_text().replace("#| default_exp core.beta\n", ""))
    manifest = load_manifest(fake_repo)
    impl = resolve_implementation(manifest, str(course))
    impl.require_files(manifest, 1)
    with pytest.raises(ImplError) as refused:
        impl.require_files(manifest, 2)
    assert "gives no tinytorch/core/beta.py, tinytorch/extra/helper.py, which checkpoint 02" in str(
        refused.value
    )
    assert "`#| default_exp` cell" in str(refused.value)


def test_dependencies_come_from_its_pyproject_and_the_variable(fake_repo, course, monkeypatch):
    manifest = load_manifest(fake_repo)
    monkeypatch.setenv(DEPENDENCIES_ENV, "scipy>=1.10 pyyaml")
    impl = resolve_implementation(manifest, str(course))
    assert impl.dependencies == ("rich>=13", "numpy", "scipy>=1.10", "pyyaml")
    monkeypatch.setenv(DEPENDENCIES_ENV, "scipy>=>1")
    with pytest.raises(ImplError) as refused:
        resolve_implementation(manifest, str(course))
    assert str(refused.value).startswith(f"{DEPENDENCIES_ENV}: 'scipy>=>1' is not a requirement")


EITHER_MANIFEST_TAIL = """
[[module]]
number = 3
slug = "gamma"
title = "Gamma"
files = ["tinytorch/core/gamma.py", "tinytorch/data/__init__.py", "tinytorch/data/loader.py"]
tests = "tests/03_gamma"
either = ["tinytorch/core/gamma.py", "tinytorch/data/loader.py"]
"""


@pytest.mark.parametrize("held", ["tinytorch/core/gamma.py", "tinytorch/data/loader.py"])
def test_a_module_held_at_either_path_is_importable_at_both(fake_repo, tmp_path, held):
    manifest_path = fake_repo / "matrix/modules.toml"
    manifest_path.write_text(manifest_path.read_text() + EITHER_MANIFEST_TAIL)
    write_files(
        fake_repo,
        {
            "tinytorch/core/gamma.py": "GAMMA = 3\n",
            "tinytorch/data/__init__.py": "",
            "tinytorch/data/loader.py": "from tinytorch.core.gamma import *  # noqa: F403\n",
            "tests/03_gamma/test_gamma.py": "",
        },
    )
    learner = tmp_path / "learner"
    write_files(
        learner,
        {
            "tinytorch/core/__init__.py": "",
            "tinytorch/core/alpha.py": "ALPHA = 1\n",
            "tinytorch/core/beta.py": "BETA = 2\n",
            "tinytorch/extra/helper.py": "HELP = True\n",
            held: "GAMMA = 'the learner'\n",
        },
    )
    manifest = load_manifest(fake_repo)
    impl = resolve_implementation(manifest, str(learner))
    other = next(path for path in manifest.module(3).either if path != held)
    assert dict(impl.made).keys() == {other, "tinytorch/data/__init__.py"}
    wheel = build_checkpoint_wheel(manifest, 3, tmp_path / "wheel", impl=impl)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    check = (
        "import tinytorch.core.gamma as a, tinytorch.data.loader as b; "
        "assert a is b, (a, b); print(a.GAMMA)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path / "site",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == "the learner\n"
    # The guard is told the file each wheel path was built from, made ones included.
    files = json.loads(checkpoint_env(manifest, 3, impl)["TINYTORCH_IMPL_FILES"])
    assert files[other] == str(dict(impl.made)[other])
    assert files[held] == str(learner / held)


def missing_import_in(package_root):
    """What MISSING_IMPORT_PROBE prints in an interpreter that imports tinytorch from here."""
    return subprocess.run(
        [sys.executable, "-c", MISSING_IMPORT_PROBE],
        cwd=package_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_missing_third_party_import_is_named_with_the_fix(tmp_path):
    write_files(
        tmp_path,
        {
            "tinytorch/__init__.py": "import tinytorch.core.alpha\n",
            "tinytorch/core/__init__.py": "",
            "tinytorch/core/alpha.py": "import not_installed_anywhere.sub\n",
        },
    )
    found = missing_import_in(tmp_path)
    assert found == 'MATRIX-MISSING-IMPORT ["not_installed_anywhere", "tinytorch/core/alpha.py"]\n'

    (tmp_path / "tinytorch/core/alpha.py").write_text("import tinytorch.core.missing_module\n")
    assert missing_import_in(tmp_path) == "", "a missing module of tinytorch is the tests' to judge"


def counts(failed: int, timed_out: int = 0, crashed: int = 0) -> JunitCounts:
    return JunitCounts(
        suites={"05_autograd": SuiteCount(passed=3, failed=failed)},
        extras=ExtrasCount(),
        files={},
        uncollectable=[],
        timed_out=[f"t::slow{i}" for i in range(timed_out)],
        crashed=[f"t::crash{i}" for i in range(crashed)],
    )


def test_failures_and_timeouts_are_both_said():
    assert failed_run_status(counts(68 + 2, timed_out=2)) == (
        "failed",
        "68 failed; 2 timed out (t::slow0, t::slow1)",
    )
    assert failed_run_status(counts(2, timed_out=2)) == (
        "timed out",
        "2 timed out (t::slow0, t::slow1)",
    )
    assert failed_run_status(counts(1, crashed=1)) == ("crashed", "1 crashed (t::crash0)")
    assert failed_run_status(counts(7, timed_out=6, crashed=1))[0] == "failed"
    assert failed_run_status(counts(9)) == ("failed", "")
    assert failed_run_status(counts(8, timed_out=7))[1] == (
        "1 failed; 7 timed out (t::slow0, t::slow1, t::slow2, t::slow3, t::slow4 and 2 more)"
    )


def test_a_course_checkout_runs_as_a_checkpoint(fake_repo_with_tools, course):
    """A real session: nbdev exports the checkout, the wheel holds the export, tests pass."""
    run = nox(fake_repo_with_tools, "-s", "module01", env={"MATRIX_IMPL": str(course)})
    assert run.returncode == 0, run.stdout + run.stderr
    [record] = (fake_repo_with_tools / "reports/impl").glob("course-*/runs/checkpoint-01-*.json")
    saved = json.loads(record.read_text())
    assert saved["status"] == "passed"
    assert saved["implementation"].endswith("(modules/NN_name/name.py sources, exported by nbdev)")
    assert list((fake_repo_with_tools / ".nox/impl").glob("course-*/module01"))
    assert not (fake_repo_with_tools / ".nox/module01").exists()
