"""Export course sources into a package folder with nbdev's own exporter.

Run by matrix/course_sources.py in uv's environment of pyproject's `export` group (nbdev and
jupytext are not the matrix's dependencies, so this file imports nothing of the matrix):

    python nbdev_export.py LIB_DIR NOTEBOOK_DIR SOURCE...

Each source, a jupytext percent-format .py, is read by jupytext and written to NOTEBOOK_DIR as
a notebook, then exported into LIB_DIR by `nbdev.export.nb_export`, as `nbdev_export` does.
Cells are numbered in order instead of given random ids, so the exported bytes depend on the
sources alone (nbdev writes each cell's id into the module).
"""

import sys
from pathlib import Path

import jupytext
from nbdev.export import nb_export


def main(lib_dir: Path, notebook_dir: Path, sources: list[Path]) -> None:
    notebook_dir.mkdir(parents=True, exist_ok=True)
    for source in sources:
        notebook = jupytext.read(source)
        for number, cell in enumerate(notebook.cells):
            cell.id = f"cell{number}"
        path = notebook_dir / f"{source.stem}.ipynb"
        jupytext.write(notebook, path)
        nb_export(str(path), lib_path=str(lib_dir))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [Path(arg) for arg in sys.argv[3:]])
