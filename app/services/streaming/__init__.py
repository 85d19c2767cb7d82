"""Live streaming transcription over WebSocket (DESIGN.md section 5, Docs/Streaming.md).

Modules: ``session`` (one socket: reader + decoder loop), ``engine`` (VAD utterances, window
decodes, finals), ``agreement`` (LocalAgreement-2 commit policy), ``vad``, ``audio`` (frame
conversion and resampling), ``inbox`` (ordered queue with backpressure), ``state`` (session
state machine), ``protocol`` (frame parsing), ``manager`` (leases and the decode pool).
"""
