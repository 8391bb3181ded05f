"""Cells: one package per cell, each owning its contracts, handlers and data.

Cells are yours: `copier update` does not rewrite them. A cell imports the
kernel, its own package, and other cells' `contracts` modules, nothing else
(import-linter enforces it).
"""
