"""The two steps of the shipped panchromatic weights that are not `satsr` commands (see reproduce.sh):

    python weights/make_pan_weights.py fold RGB_WEIGHTS OUT          # RGB -> 1 band, exact on grey images
    python weights/make_pan_weights.py finish RUN DATASET... -o OUT  # + the scene stretch of 11-16-bit scenes
"""

from __future__ import annotations

import sys

from satsr.pan_weights import finish_weights, fold_weights


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "fold":
        print(fold_weights(argv[1], argv[2]))
    elif len(argv) >= 5 and argv[0] == "finish" and argv[-2] == "-o":
        print(finish_weights(argv[1], argv[2:-2], argv[-1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
