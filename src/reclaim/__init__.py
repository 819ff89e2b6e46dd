"""reclaim: find, prove, preserve and take down non-consensual deepfake imagery.

Nothing leaves the machine unless the user asks (SECURITY.md). One dependency would break that on its own:
onnxruntime (≥ 1.2x on Linux and macOS) starts Microsoft's 1DS telemetry uploader when its runtime
initialises, writes a device id and an event queue under ``~/.cache/Microsoft/DeveloperTools`` and sends
them to ``mobile.events.data.microsoft.com``. Its Python switch ``disable_telemetry_events()`` stops session
events but leaves the uploader running (ProcessInfo is still sent); only an environment variable read when
the runtime initialises stops it. They are set here, on the first import of reclaim, before anything can
load onnxruntime: every reclaim process (CLI, scan workers forked from it, the server) inherits or re-runs
this. ``tests/test_network_audit.py`` traces the system calls of every command and fails on any lookup or
connection the user did not ask for.
"""

import os as _os

ONNXRUNTIME_TELEMETRY_OFF = {
    "ORT_DISABLE_TELEMETRY": "1",  # the variable onnxruntime 1.32 reads
    "ORT_TELEMETRY_DISABLED": "1",  # the name later releases read
}
_os.environ.update(ONNXRUNTIME_TELEMETRY_OFF)

__version__ = "0.1.0"
