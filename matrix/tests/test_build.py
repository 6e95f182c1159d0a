"""Checkpoint wheels: only modules <= N inside, a distinct version each, the same bytes twice."""

import hashlib
import zipfile

import pytest

from matrix.build import BuildError, build_checkpoint_wheel, checkpoint_version
from matrix.manifest import load_manifest


def names_in(wheel):
    with zipfile.ZipFile(wheel) as archive:
        return sorted(name for name in archive.namelist() if ".dist-info/" not in name)


def test_checkpoint_holds_only_its_modules(fake_repo, tmp_path):
    manifest = load_manifest(fake_repo)
    first = build_checkpoint_wheel(manifest, 1, tmp_path / "cp01")
    second = build_checkpoint_wheel(manifest, 2, tmp_path / "cp02")
    assert names_in(first) == [
        "tinytorch/__init__.py",
        "tinytorch/_checkpoint.py",
        "tinytorch/core/__init__.py",
        "tinytorch/core/alpha.py",
    ]
    assert names_in(second) == sorted(
        [*names_in(first), "tinytorch/core/beta.py", "tinytorch/extra/helper.py"]
    )
    with zipfile.ZipFile(second) as archive:
        stamp = archive.read("tinytorch/_checkpoint.py").decode()
    assert "CHECKPOINT = 2\n" in stamp
    assert "MODULES = ('alpha', 'beta')\n" in stamp
    assert first.name.startswith("tinytorch-0.1.0+cp01.")
    assert second.name.startswith("tinytorch-0.1.0+cp02.")


def test_same_sources_same_bytes(fake_repo, tmp_path):
    manifest = load_manifest(fake_repo)
    digests = {
        hashlib.sha256(build_checkpoint_wheel(manifest, 2, tmp_path / out).read_bytes()).digest()
        for out in ("a", "b")
    }
    assert len(digests) == 1


def test_changed_source_changes_the_version(fake_repo):
    manifest = load_manifest(fake_repo)
    before = checkpoint_version(manifest, 1), checkpoint_version(manifest, 2)
    (fake_repo / "tinytorch/core/beta.py").write_text("BETA = 3\n")
    after = checkpoint_version(manifest, 1), checkpoint_version(manifest, 2)
    assert before[0] == after[0], "checkpoint 01 does not contain beta.py"
    assert before[1] != after[1]


def test_broken_package_fails_with_the_backend_message(fake_repo, tmp_path):
    manifest = load_manifest(fake_repo)
    (fake_repo / "pyproject.toml").write_text("[project\n")
    with pytest.raises(BuildError, match="building checkpoint 01 failed"):
        build_checkpoint_wheel(manifest, 1, tmp_path / "out")


def test_unchanged_sources_reuse_the_wheel_and_changed_ones_rebuild(fake_repo, tmp_path):
    manifest = load_manifest(fake_repo)
    first = build_checkpoint_wheel(manifest, 1, tmp_path / "out")
    first.write_bytes(first.read_bytes())  # same bytes, new mtime: reuse is by name only
    stamp = first.stat().st_mtime_ns
    assert build_checkpoint_wheel(manifest, 1, tmp_path / "out").stat().st_mtime_ns == stamp
    (fake_repo / "tinytorch/core/alpha.py").write_text("ALPHA = 2\n")
    rebuilt = build_checkpoint_wheel(manifest, 1, tmp_path / "out")
    assert rebuilt != first
    assert list((tmp_path / "out").glob("*.whl")) == [rebuilt]
