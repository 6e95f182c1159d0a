"""A checkpoint session's pytest keeps its bytecode per wheel, so a warm run compiles nothing
twice and a rebuilt module is never run from the bytecode of the build before."""

from matrix.layout import Layout
from matrix.tests.repo_helpers import nox


def test_a_rebuilt_module_of_the_same_size_is_not_run_from_stale_bytecode(fake_repo_with_tools):
    module = fake_repo_with_tools / "tinytorch/core/alpha.py"
    test = fake_repo_with_tools / "tests/01_alpha/test_alpha.py"
    test.write_text(
        "from tinytorch.core.alpha import ALPHA\n\n\ndef test_alpha():\n    assert ALPHA == 1\n"
    )
    first = nox(fake_repo_with_tools, "-s", "module01")
    assert first.returncode == 0, first.stdout + first.stderr
    layout = Layout(fake_repo_with_tools)
    cache = layout.at(layout.bytecode) / "module01"
    (kept,) = cache.iterdir()
    assert list(kept.rglob("alpha*.pyc")), "the installed module's bytecode was not kept"

    # Same size, same name, another value: only the wheel's digest tells the builds apart.
    module.write_text(module.read_text().replace("ALPHA = 1", "ALPHA = 2"))
    second = nox(fake_repo_with_tools, "-s", "module01")
    assert second.returncode != 0, "the test ran against the previous build's bytecode"
    assert "assert 2 == 1" in second.stdout + second.stderr
    (now,) = cache.iterdir()
    assert now.name != kept.name, "one bytecode folder per wheel, the older one removed"
