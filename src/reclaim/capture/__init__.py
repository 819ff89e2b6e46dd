"""Web evidence: ``reclaim capture URL`` loads a page in a headless Chromium, archives everything it
received as a WARC packed in a WACZ, keeps a full-page screenshot and the DOM, and scans every image on it.
See docs/capture.md."""

from reclaim.capture.service import CaptureReport, PageCapture, capture_urls

__all__ = ["CaptureReport", "PageCapture", "capture_urls"]
