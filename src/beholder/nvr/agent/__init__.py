"""The site side of an NVR: ``beholder nvr-agent`` (config, RTSP probe, socket client)."""
