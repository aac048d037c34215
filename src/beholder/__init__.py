"""Beholder: self-hosted camera dashboard (RTSP ingest, WebRTC live view, face alerts)."""

__version__ = "0.1.0"
