# Owned by the monocell template: `copier update` replaces this file.
"""The kernel's own migrations, applied to every cell's database before the cell's."""
