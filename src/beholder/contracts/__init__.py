"""The one wire contract of Beholder, shared by the api, the worker and the web app.

Modules (lowest layer: they import nothing from ``bus``, ``db``, ``worker``, ``realtime`` or
``api``):

- :mod:`.wire` — :class:`~.wire.WireModel` (camelCase JSON base), ids, UTC timestamps;
- :mod:`.subjects` — every bus subject, fixed or per camera (no subject is spelled elsewhere);
- :mod:`.bus` — bus payloads: camera commands, status events, alerts, heartbeats, hub fan-out;
- :mod:`.auth` — ``auth.revoked``: a principal's credentials stopped being good;
- :mod:`.live` — live view (WHEP/MJPEG) request and reply models between api and worker;
- :mod:`.resources` — the public views of cameras, alerts and health (REST bodies that the
  hub messages carry too);
- :mod:`.hub` — every message the dashboard hub ``/ws`` sends: one discriminated union on
  ``type``, one builder function per message type, published in the OpenAPI schema.
"""
