"""``python -m carbonmap``: the command line (:mod:`carbonmap.cli`)."""

from carbonmap.cli import main

if __name__ == "__main__":
    main()
