"""``worldforge-ros`` command line (placeholder filled by later modules)."""

import sys


def main(argv=None) -> int:
    print("worldforge-ros", file=sys.stderr)
    return 0
