# Owned by the monocell template: `copier update` replaces this file.
"""The message bus: one API (`Bus`), two transports (memory, NATS JetStream).

Modules, one concept each:
- `bus`: the `Bus` facade: `send(command) -> reply`, `publish(event)`,
  `register(cell)`, `start`/`close` (drain), `ready`, `dead_letters()`.
- `envelope`: CloudEvents 1.0 attributes + traceparent + correlation id;
  binary content mode (`ce-` headers) on NATS.
- `codec`: msgspec JSON, strict but for fields a newer sender added; used by every transport.
- `transport`: what a transport must do, and the `DeliveryPolicy` (retries,
  backoff, dead letters, concurrency, queue bounds) they all keep.
- `memory`: the embedded default. `nats`: NATS JetStream (events) and
  request/reply with queue groups (commands).
- `context`: the `Context` handlers receive; `tracing`: OpenTelemetry spans
  (API only); `metrics`: Prometheus metrics per cell and message type.

Build a bus from `topology.toml` with `kernel.runtime.composition`, not by hand.
"""

from .bus import Bus
from .envelope import Envelope
from .memory import MemoryTransport
from .transport import DeadLetter, DeliveryPolicy, Transport

__all__ = ["Bus", "DeadLetter", "DeliveryPolicy", "Envelope", "MemoryTransport", "Transport"]
