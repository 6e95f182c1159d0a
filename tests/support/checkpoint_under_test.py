"""Which checkpoint the suites run against, and the manifest's modules: read once, here.

Every session that runs the suites names the installed checkpoint in TINYTORCH_CHECKPOINT
(matrix/pytest_env.py); tests/test_checkpoint_guard.py checks it against the installed wheel,
and the op registry takes the op entries of the suites it holds. Imports no tinytorch.
"""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; tomli is the same parser, published separately.
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_ENV = "TINYTORCH_CHECKPOINT"
MANIFEST = tomllib.loads((REPO_ROOT / "matrix" / "modules.toml").read_text(encoding="utf-8"))
# The manifest's modules in course order, as dicts (number, slug, files, tests, ...).
MODULES = sorted(MANIFEST["module"], key=lambda module: module["number"])


def checkpoint_from(environ):
    """The checkpoint number that ``environ`` names, or None when it names none."""
    value = environ.get(CHECKPOINT_ENV)
    if value is None:
        return None
    if not value.isdigit():
        raise ValueError(
            f"{CHECKPOINT_ENV}={value!r} is not a checkpoint number; run the suites through "
            "`nox -s moduleNN`, which sets it, or set it to the installed checkpoint (e.g. 9)"
        )
    return int(value)
