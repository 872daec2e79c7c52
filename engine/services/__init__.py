"""The facade's rooms: one service per capability, each on the shared kernel.

A service may use the kernel and the engine's data modules, never another service's module: where one needs
another's verb (the portal opens tickets), the facade hands it over when it builds the services.
"""
