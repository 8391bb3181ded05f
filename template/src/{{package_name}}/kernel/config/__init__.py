# Owned by the monocell template: `copier update` replaces this file.
"""The schemas of what operators configure: topology.toml, gateway settings,
trigger thresholds and sandbox policies, each checked strictly on load.
"""
