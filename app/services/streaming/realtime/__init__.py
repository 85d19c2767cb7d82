"""OpenAI Realtime API transcription sessions over the live engine (Docs/Realtime.md).

Modules: ``config`` (session configuration: the GA and beta update shapes, merged and rendered
back, translated to the engine's ``start``), ``g711`` (mu-law/A-law decoding), ``turns`` (engine
events to turn events: items, deltas, commits, completions), ``session`` (the protocol hooks on
the shared :class:`~app.services.streaming.live.LiveSession`).
"""
