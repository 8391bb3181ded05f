# Owned by the monocell template: `copier update` replaces this file.
"""`python -m <package>` runs the same command-line program as the console script."""

from .kernel.cli.main import main

if __name__ == "__main__":
    main()
