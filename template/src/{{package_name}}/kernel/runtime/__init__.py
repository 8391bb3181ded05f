# Owned by the monocell template: `copier update` replaces this file.
"""What a running process needs: the composition of cells, the bus it starts,
the gateway and worker processes, logs and the metrics endpoint.
"""
