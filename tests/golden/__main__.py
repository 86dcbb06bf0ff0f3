"""``python -m tests.golden --write``: write every golden file again (from the repository
root); ``python -m tests.golden``: list the ones that differ (exit status 1 if any)."""

import argparse
import os
import sys

from . import read, render, stray_files, target_id, targets, write


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the golden files (and remove stray ones)")
    opts = parser.parse_args(argv)
    differ = []
    for case, mode, kind in targets():
        text = render(case, mode, kind)
        try:
            same = read(case, mode, kind) == text
        except FileNotFoundError:
            same = False
        if opts.write:
            if not same:
                write(case, mode, kind, text)
                print(f"wrote {target_id(case, mode, kind)}")
        elif not same:
            differ.append(target_id(case, mode, kind))
            print(f"differs: {target_id(case, mode, kind)}")
    for name in stray_files():
        if opts.write:
            os.remove(os.path.join(os.path.dirname(os.path.abspath(__file__)), name))
            print(f"removed {name}")
        else:
            differ.append(name)
            print(f"stray: {name}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
