# Owned by the monocell template: `copier update` replaces this file.
"""The sandbox: high-risk cells run in restricted worker processes.

A cell placed `sandbox` in topology.toml keeps its code; its handlers run in a
pool of pre-forked workers that restrict themselves before reading any input.
Modules, one concept each:
- `policy`: the per-cell minimum level, limits and pool settings; `LEVELS`.
- `frames`: what the parent and a worker say over the pipes (msgspec, framed).
- `linux`, `landlock`, `seccomp`: the system calls, by number, through ctypes.
- `layers`: the layers a worker applies to itself and the level they reach.
- `worker`: the child's entry point. `pool`: the parent side. `zygote`: the
  pre-imported process a pool forks its reused workers from.
- `probe`: starts a real restricted child and reports the level (`sandbox probe`).
- `placement`: registers a sandboxed cell's proxies on the bus.
- `readiness`: the check `/readyz` runs.
"""
