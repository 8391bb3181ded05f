# Owned by the monocell template: `copier update` replaces this file.
"""Trigger thresholds: the measured need that moves a cell, written down in topology.toml.

    [triggers]                 # defaults for every cell
    p99_latency_ms = 250.0     # p99 of a cell's handler time
    queue_depth = 1000         # messages waiting for a cell
    message_rate = 500.0       # messages per second a cell handles
    cpu_share = 0.5            # share of the process's CPU time spent in a cell
    error_rate = 0.05          # failed / handled (business rejections excluded)
    risk = true                # a high-risk cell placed in-process fires

    [cells.orders.triggers]    # any of the same keys, for one cell
    p99_latency_ms = 50.0

A threshold set to 0 is off: in `[triggers]` for every cell, in a cell's table
for that cell; a key a cell's table leaves out keeps the default. Only
structure lives here; `kernel.ops.triggers` evaluates them against metrics.
"""

from typing import Annotated

import msgspec

# 0 turns a threshold off, in `[triggers]` as in a cell's table.
Limit = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class Thresholds(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The `[triggers]` table: project-wide defaults."""

    p99_latency_ms: Limit | None = 250.0
    queue_depth: Annotated[int, msgspec.Meta(ge=0)] | None = 1000
    message_rate: Limit | None = 500.0
    cpu_share: Share | None = 0.5
    error_rate: Share | None = 0.05
    risk: bool = True


class ThresholdOverrides(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A `[cells.<name>.triggers]` table: any threshold, for one cell; 0 turns it off."""

    p99_latency_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    queue_depth: Annotated[int, msgspec.Meta(ge=0)] | None = None
    message_rate: Annotated[float, msgspec.Meta(ge=0)] | None = None
    cpu_share: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    error_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    risk: bool | None = None


def effective(defaults: Thresholds, overrides: ThresholdOverrides | None) -> Thresholds:
    """The thresholds for one cell: its overrides over the defaults (0 means off)."""
    changes: dict[str, object] = {}
    for field in msgspec.structs.fields(ThresholdOverrides):
        value = getattr(overrides, field.name, None) if overrides is not None else None
        if value is None:
            value = getattr(defaults, field.name)
        changes[field.name] = None if value == 0 and not isinstance(value, bool) else value
    return msgspec.structs.replace(defaults, **changes)
