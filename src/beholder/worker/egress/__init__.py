"""Live view egress: WebRTC (WHEP) passthrough of the camera's H.264, transcode when a
browser cannot take it as-is, MJPEG fallback — one RTSP connection per camera.

Modules: :mod:`.hub` (the worker's :class:`~.hub.EgressHub`: sources, bus requests),
:mod:`.viewers` (WHEP viewer sessions: peer connections, limits, sweep), :mod:`.source`
(per-camera fan-out, a packet sink of the camera session), :mod:`.gop` (GOP cache),
:mod:`.timeline`, :mod:`.track` (aiortc passthrough track), :mod:`.decode` (decode once per
camera), :mod:`.transcode` (H.264 baseline re-encode), :mod:`.mjpeg`, :mod:`.ice` (ICE address
policy), :mod:`.errors` (:class:`~.errors.EgressRefused`), :mod:`.feeder` (a session
stand-in for tests and benches). Importing this package imports none of them. The api↔worker
bus models are in :mod:`beholder.contracts.live`.
"""
