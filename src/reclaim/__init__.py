"""reclaim: find, prove, preserve and take down non-consensual deepfake imagery."""

__version__ = "0.1.0"
