"""Every way the manifest can be wrong stops with one line that names the entry and the fix."""

import subprocess
import sys
from pathlib import Path

import pytest

from matrix.manifest import REPO_ROOT, ManifestError, load_manifest
from matrix.tests.repo_helpers import copy_matrix_package


def test_the_fake_repo_loads(fake_repo):
    manifest = load_manifest(fake_repo)
    assert manifest.numbers == (1, 2)
    assert [m.session for m in manifest.modules] == ["module01", "module02"]
    assert manifest.checkpoint(1) == (manifest.modules[0],)
    assert manifest.files_of_checkpoint(1) == (
        "tinytorch/__init__.py",
        "tinytorch/_checkpoint.py",
        "tinytorch/core/__init__.py",
        "tinytorch/core/alpha.py",
    )


def test_this_repository_manifest_loads():
    manifest = load_manifest(REPO_ROOT)
    assert manifest.modules[0].slug == "tensor"
    assert manifest.modules[0].import_name == "tinytorch.core.tensor"


BROKEN = {
    "duplicate number": (
        ("number = 2", "number = 1"),
        "modules 'alpha' and 'beta' both have number 1; give each module its own number",
    ),
    "missing number": (
        ("number = 2", "number = 3"),
        "module 02 is missing (next is 03 'beta')",
    ),
    "unknown key": (
        ('title = "Beta"', 'title = "Beta"\nowner = "me"'),
        "[[module]] entry 2 ('beta'): unknown key 'owner'; allowed keys are number, slug",
    ),
    "missing key": (
        ('title = "Beta"\n', ""),
        "[[module]] entry 2 ('beta'): missing key 'title'; add it",
    ),
    "wrong type": (
        ("number = 2", 'number = "2"'),
        "'number' must be a int, got '2'",
    ),
    "listed file missing": (
        ('"tinytorch/extra/helper.py"', '"tinytorch/extra/gone.py"'),
        "module 02 'beta' lists tinytorch/extra/gone.py, which does not exist; create it",
    ),
    "file claimed twice": (
        (
            'files = ["tinytorch/core/beta.py", ',
            'files = ["tinytorch/core/beta.py", "tinytorch/core/alpha.py", ',
        ),
        "tinytorch/core/alpha.py is claimed by both module 01 'alpha' and module 02 'beta'",
    ),
    "test folder number disagrees": (
        ('tests = "tests/02_beta"', 'tests = "tests/01_alpha"'),
        "test folder 'tests/01_alpha' is numbered 01, not 02; rename it",
    ),
    "entry point not listed": (
        ('files = ["tinytorch/core/beta.py", ', "files = ["),
        "module 02 'beta' must list tinytorch/core/beta.py",
    ),
    "unknown top-level table": (
        ("[package]", "[packages]\nx = 1\n[package]"),
        "the top level: unknown key 'packages'",
    ),
    "not TOML": (
        ("[package]", "[package"),
        "not valid TOML",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_manifest_names_the_entry_and_the_fix(fake_repo, edit_manifest, case):
    (old, new), message = BROKEN[case]
    edit_manifest(fake_repo, old, new)
    with pytest.raises(ManifestError) as raised:
        load_manifest(fake_repo)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unclaimed_package_file_is_refused(fake_repo):
    (fake_repo / "tinytorch/core/stray.py").write_text("")
    with pytest.raises(ManifestError, match=r"tinytorch/core/stray\.py belongs to no module"):
        load_manifest(fake_repo)


def test_test_folder_without_entry_is_refused(fake_repo):
    (fake_repo / "tests/03_gamma").mkdir()
    with pytest.raises(
        ManifestError,
        match=r"tests/03_gamma has no manifest entry, so no checkpoint would run it; add a",
    ):
        load_manifest(fake_repo)


def test_listed_test_folder_must_exist(fake_repo):
    (fake_repo / "tests/02_beta/test_beta.py").unlink()
    (fake_repo / "tests/02_beta").rmdir()
    with pytest.raises(ManifestError, match="test folder tests/02_beta does not exist"):
        load_manifest(fake_repo)


def test_unknown_checkpoint_is_refused(fake_repo):
    with pytest.raises(ManifestError, match=r"there is no checkpoint 9: .* 01\.\.02"):
        load_manifest(fake_repo).checkpoint(9)


def run_tool(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run nox or the matrix CLI against this repository's code but `root`'s tree."""
    return subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)


def test_nox_with_a_broken_manifest_says_so_in_one_line(fake_repo, edit_manifest):
    (fake_repo / "noxfile.py").write_text((REPO_ROOT / "noxfile.py").read_text())
    manifest = (fake_repo / "matrix/modules.toml").read_text()
    copy_matrix_package(fake_repo)
    (fake_repo / "matrix/modules.toml").write_text(manifest)
    edit_manifest(fake_repo, "number = 2", "number = 1")
    listed = run_tool(fake_repo, sys.executable, "-m", "nox", "-l")
    assert listed.returncode != 0
    assert "nox: the module manifest is broken: matrix/modules.toml: modules 'alpha'" in (
        listed.stderr
    )
    assert "Traceback" not in listed.stderr + listed.stdout


def test_cli_check_and_unknown_checkpoint():
    ok = run_tool(REPO_ROOT, sys.executable, "-m", "matrix", "check")
    assert ok.returncode == 0
    assert ok.stdout.startswith("manifest ok: checkpoints 01..")
    missing = run_tool(REPO_ROOT, sys.executable, "-m", "matrix", "build", "99")
    assert missing.returncode == 2
    assert "there is no checkpoint 99" in missing.stderr
    assert "Traceback" not in missing.stderr
