# Owned by the monocell template: `copier update` replaces this file.
"""The probe: start one real restricted worker and report the level it reached.

Asking the kernel what it supports is not enough (AppArmor, container seccomp
profiles and missing privileges only show when a layer is applied), so the
probe starts a worker exactly as the pool does and reads the layers it reports.
"""

import sys
from dataclasses import dataclass

import msgspec

from ..config.sandbox_policy import SandboxPolicy, level_name
from .frames import Layer, Target
from .pool import SandboxPool, SandboxRefusedError


@dataclass(frozen=True)
class ProbeReport:
    """The level reached and each layer's state, with the exact error of a missing layer."""

    level: int
    layers: tuple[Layer, ...]

    def layer(self, name: str) -> Layer:
        """The state of one layer (`unavailable` if the worker did not report it)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        return Layer(name, "unavailable", "not reported by the worker")

    def lines(self) -> list[str]:
        """The report as `sandbox probe` prints it."""
        width = max((len(layer.name) for layer in self.layers), default=0)
        rows = [f"sandbox level: {level_name(self.level)}"]
        rows += [
            f"  {layer.name:<{width}}  {layer.status:<11}  {layer.detail}".rstrip()
            for layer in self.layers
        ]
        return rows


async def probe(policy: SandboxPolicy | None = None) -> ProbeReport:
    """Start a restricted worker with `policy`'s limits and report what it reached."""
    if sys.platform == "win32":
        return ProbeReport(0, (Layer("process", "unavailable", "the sandbox needs Linux"),))
    policy = policy or SandboxPolicy()
    pool = SandboxPool("probe", Target("", ""), _without_minimum(policy))
    try:
        await pool.start()
        hello = pool.hello
    except SandboxRefusedError as error:
        return ProbeReport(0, (Layer("worker", "failed", str(error)),))
    finally:
        await pool.close()
    assert hello is not None  # noqa: S101 - a started pool has said hello
    return ProbeReport(hello.level, tuple(hello.layers))


def _without_minimum(policy: SandboxPolicy) -> SandboxPolicy:
    return msgspec.structs.replace(policy, min_level=0, pool_size=1)
