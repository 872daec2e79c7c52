"""What every service holds: the kernel and the parts of it every verb uses."""
from __future__ import annotations

from ..kernel import Kernel


class Service:
    """A room of the facade; its verbs open units of work on the shared kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.settings = kernel.settings
        self.clock = kernel.clock
        self.uow = kernel.uow
        self.runtime = kernel.runtime
