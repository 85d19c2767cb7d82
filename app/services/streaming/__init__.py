"""Live streaming transcription over WebSocket (DESIGN.md section 5, Docs/Streaming.md).

Modules: ``live`` (the protocol-neutral session core: lease, socket reader, decoder loop,
limits), ``session`` (the gateway's own protocol on it), ``realtime`` (OpenAI's Realtime API on
it), ``setup`` (a validated ``start`` to an engine), ``engine`` (VAD utterances, window
decodes, finals), ``agreement`` (LocalAgreement-2 commit policy), ``vad``, ``audio`` (frame
conversion and resampling), ``inbox`` (ordered queue with backpressure), ``state`` (session
state machine), ``protocol`` (frame parsing), ``manager`` (leases and the decode pool).
"""
