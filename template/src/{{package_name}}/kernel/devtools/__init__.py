# Owned by the monocell template: `copier update` replaces this file.
"""Developer tools: the cell scaffold, the token budget, the contract
snapshot, repository checks and the gate. Their libraries (jinja2, questionary,
tomlkit) are development dependencies; a service never imports this package.
"""
