"""Speech recognition engines behind one interface.

``providers.base`` defines the interface, ``providers.registry`` resolves model ids to a provider
and model, and each engine lives in its own module. Nothing here imports ``app``.
"""
