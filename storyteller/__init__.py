"""Storyteller: an offline studio for safe digital storytelling workshops."""

import os

__version__ = "0.1.0"

# onnxruntime (the face detector, Whisper's voice detector, the synthetic voice) ships
# Microsoft's telemetry on Linux too: on import it writes a device id and an event store
# under ~/.cache and a session file in the temp folder, to upload when a network is
# there. A workshop laptop sends nothing anywhere. This must be set before onnxruntime is
# first imported, and every process of ours imports this package first.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
