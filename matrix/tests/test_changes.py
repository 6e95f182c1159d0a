"""What git says changed, and the refusals: a dirty tree, a REF that is not a commit."""

import pytest

from matrix.gate.changes import changed_files, require_clean_tree
from matrix.git import GitError, resolve_commit
from matrix.tests.repo_helpers import commit_all, git, make_repository


@pytest.fixture
def repo(fake_repo):
    (fake_repo / ".gitignore").write_text("/reports/\n")
    return make_repository(fake_repo)


def test_committed_changes_since_the_fork_point_are_listed(repo):
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "tinytorch/core/beta.py").write_text("BETA = 2\n")
    commit_all(repo, "beta")
    # A commit on main after the fork is not the branch's change (REF...HEAD, not REF..HEAD).
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("main moved on\n")
    commit_all(repo, "readme on main")
    git(repo, "checkout", "-q", "feature")
    assert changed_files(repo, resolve_commit(repo, "main")) == ["tinytorch/core/beta.py"]


def test_a_moved_test_counts_in_both_folders(repo):
    git(repo, "mv", "tests/01_alpha/test_alpha.py", "tests/02_beta/test_alpha.py")
    commit_all(repo, "move")
    assert changed_files(repo, resolve_commit(repo, "HEAD~1")) == [
        "tests/01_alpha/test_alpha.py",
        "tests/02_beta/test_alpha.py",
    ]


def test_clean_tree_passes_and_ignored_files_do_not_count(repo):
    (repo / "reports").mkdir()
    (repo / "reports/matrix.md").write_text("ignored\n")
    require_clean_tree(repo)


def test_modified_tracked_file_is_refused_by_name(repo):
    (repo / "tinytorch/core/alpha.py").write_text("ALPHA = 5\n")
    with pytest.raises(GitError) as refused:
        require_clean_tree(repo)
    assert str(refused.value) == (
        "the working tree is not clean (tinytorch/core/alpha.py): commit, stash or remove them "
        "(git stash -u), then gate again; the gate only tests committed changes"
    )


def test_untracked_test_file_is_refused_by_name(repo):
    (repo / "tests/01_alpha/test_stray.py").write_text("def test_x():\n    pass\n")
    with pytest.raises(GitError, match=r"not clean \(tests/01_alpha/test_stray\.py\)"):
        require_clean_tree(repo)


def test_many_dirty_files_are_counted(repo):
    for name in "abcde":
        (repo / f"{name}.txt").write_text(name)
    with pytest.raises(GitError, match=r"not clean \(a\.txt, b\.txt, c\.txt and 2 more\)"):
        require_clean_tree(repo)


def test_unknown_ref_says_what_to_do(repo):
    with pytest.raises(GitError) as refused:
        resolve_commit(repo, "origin/nope")
    assert str(refused.value) == (
        "--base 'origin/nope' is not a commit in this repository; fetch it "
        "(e.g. git fetch origin origin/nope) or name an existing branch, tag or commit"
    )


def test_not_a_repository(fake_repo):
    with pytest.raises(GitError, match="is not a git working tree; the gate compares commits"):
        require_clean_tree(fake_repo)
