"""Live view egress: WebRTC (WHEP) passthrough of the camera's H.264, transcode when a
browser cannot take it as-is, MJPEG fallback — one RTSP connection per camera.

Modules: :mod:`.source` (per-camera fan-out + GOP cache, the session's PacketSink),
:mod:`.track` (aiortc passthrough track), :mod:`.whep` (the worker's
:class:`~.whep.EgressHub`), :mod:`.whep_sessions` (viewer peer connections + sweeper),
:mod:`.transcode` (decode once, H.264 baseline re-encode),
:mod:`.mjpeg`, :mod:`.ice` (ICE address policy), :mod:`.settings`. Importing this package
imports none of them. The api↔worker bus models are in :mod:`beholder.contracts.live`.
"""
