"""`python -m keras_distill`: the `keras-distill` command line."""

import sys

from keras_distill.src.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
