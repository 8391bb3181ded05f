# Owned by the monocell template: `copier update` replaces this file.
"""The command-line program: every subcommand. Nothing imports this package
except the console script and `python -m`.
"""
