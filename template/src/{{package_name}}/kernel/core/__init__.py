# Owned by the monocell template: `copier update` replaces this file.
"""What cells import: the cell declaration, message contracts and typed errors.

The lowest layer of the kernel: it imports nothing else of the kernel, so a
cell that reads it reads the whole of what it builds on.
"""
