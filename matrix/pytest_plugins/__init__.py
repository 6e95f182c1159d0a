"""The matrix's pytest plugins, and how a session's pytest gets them.

Each plugin's file is copied alone into a folder that becomes that pytest's PYTHONPATH
(`copy_alone`), and is loaded with `-p <name>`. So a plugin imports nothing from matrix/, and
the repository root is never put on PYTHONPATH: its tinytorch/ source tree would shadow the
installed checkpoint.

- collection_bound: bounds the time a test module may take to import (checkpoint sessions)
- progress_log: names the test that killed pytest under `-n 0` (checkpoint sessions)
- audit_plugin: the collected tests, their markers, outcomes and failures as JSON (the audit
  and the gate's base runs)
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


def plugin_name(plugin: ModuleType) -> str:
    """What pytest's `-p` calls a plugin once its file is copied alone."""
    return plugin.__name__.rpartition(".")[2]


def copy_alone(plugins: Sequence[ModuleType], folder: Path) -> list[str]:
    """Copy each plugin's file alone into `folder`, emptied first (no file of a previous run
    stays beside them); return the pytest options that load them."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for plugin in plugins:
        shutil.copyfile(plugin.__file__, folder / f"{plugin_name(plugin)}.py")
    return [option for plugin in plugins for option in ("-p", plugin_name(plugin))]
