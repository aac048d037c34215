"""Reading a camera command's payload: the :class:`~beholder.messages.CameraSpec` to run."""

from __future__ import annotations

from pydantic import ValidationError

from beholder.errors import AppError, ErrorCode
from beholder.messages import CameraCommand, CameraSpec, CommandType
from beholder.rtsp_url import validate_rtsp_url


def spec_from_command(cmd: CameraCommand, current: CameraSpec | None) -> CameraSpec:
    """The camera spec a START/RESTART command asks for.

    ``current``: the spec of the camera's running session, reused by a RESTART without
    payload. Raises :class:`AppError` ``INVALID_INPUT`` (user-safe message) for a payload
    that is not a valid spec of this camera, and ``InvalidInput`` for a URL outside the
    allowed networks or schemes.
    """
    payload = dict(cmd.payload)
    if not payload and cmd.command_type is CommandType.RESTART_STREAM and current is not None:
        return current
    payload.setdefault("cameraId", cmd.camera_id)
    try:
        spec = CameraSpec.model_validate(payload)
    except ValidationError as exc:
        raise AppError(
            "The camera settings sent to the worker are not valid.",
            code=ErrorCode.INVALID_INPUT,
            detail=f"invalid CameraSpec: {exc.error_count()} errors",
        ) from exc
    if spec.camera_id != cmd.camera_id:
        raise AppError(
            "The camera settings sent to the worker are not valid.",
            code=ErrorCode.INVALID_INPUT,
            detail="payload cameraId differs from the command's",
        )
    validate_rtsp_url(spec.rtsp_url)  # raises InvalidInput with a user-safe message
    return spec
