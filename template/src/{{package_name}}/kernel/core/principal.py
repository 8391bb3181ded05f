# Owned by the monocell template: `copier update` replaces this file.
"""Who asked: the caller the gateway authenticated, carried to every handler.

The gateway puts the caller's subject (`key:<id>` or `jwt:<sub>`) and scopes
on the command's envelope; the bus hands them to the handler as
`context.principal`, and a command a handler sends on carries them further.
A message that did not come through the gateway (a test, a worker, an event)
has `ANONYMOUS`: an empty subject, no scopes. The bus is trusted: whatever can
publish on it can claim any principal, so keep the bus private (see the
security page).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a non-empty `subject` and the scopes it holds."""

    subject: str
    scopes: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return not self.subject


ANONYMOUS = Principal(subject="")
