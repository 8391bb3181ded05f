# Owned by the monocell template: `copier update` replaces this file.
"""Generators for operators: deployment files, NATS accounts, the topology
diagram and the placement triggers. Run from the command line, never by a service.
"""
