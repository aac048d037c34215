"""Live view egress: WebRTC (WHEP) passthrough of the camera's H.264, transcode when a
browser cannot take it as-is, MJPEG fallback — one RTSP connection per camera.

Modules: :mod:`.source` (per-camera fan-out + GOP cache, the session's PacketSink),
:mod:`.track` (aiortc passthrough track), :mod:`.whep` (the worker's
:class:`~.whep.EgressHub`), :mod:`.whep_sessions` (viewer peer connections + sweeper),
:mod:`.transcode` (decode once, H.264 baseline re-encode),
:mod:`.mjpeg`, :mod:`.ice` (ICE address policy), :mod:`.protocol` (api↔worker bus models),
:mod:`.settings`. Importing this package imports none of them (the api needs only
:mod:`.protocol`).
"""
