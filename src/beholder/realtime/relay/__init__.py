"""The mobile relay ``/api/streams/ws`` (DESIGN §7): phones produce video, dashboards and ML
services consume it and send alerts back; routed by stream id."""
