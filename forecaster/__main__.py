"""``python -m forecaster``: the same command line as the ``forecaster`` script, for a checkout
or virtualenv where the script is not on PATH (or belongs to another copy of the package)."""

from forecaster.cli import main

if __name__ == "__main__":
    main()
