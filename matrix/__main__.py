"""Command line of the matrix tool: `python -m matrix check` and `python -m matrix build N`.

Nox sessions are the everyday entry point; this is for checking the manifest and building a
checkpoint wheel by hand (e.g. to compare two builds byte for byte).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matrix.build import BuildError, build_checkpoint_wheel
from matrix.manifest import ManifestError, load_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matrix")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate matrix/modules.toml against the tree")
    build = commands.add_parser("build", help="build one checkpoint wheel")
    build.add_argument("checkpoint", type=int, help="checkpoint number, e.g. 3")
    build.add_argument("--out", type=Path, default=None, help="output folder (emptied first)")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest()
        if args.command == "check":
            numbers = manifest.numbers
            print(f"manifest ok: checkpoints {numbers[0]:02d}..{numbers[-1]:02d}")
            return 0
        manifest.module(args.checkpoint)
        out = args.out or manifest.root / "build" / "checkpoints" / f"cp{args.checkpoint:02d}"
        print(build_checkpoint_wheel(manifest, args.checkpoint, out.resolve()))
        return 0
    except (ManifestError, BuildError) as error:
        print(f"python -m matrix: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
