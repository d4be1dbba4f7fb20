"""The sans-I/O domain core of sessionhub.

Rules: all legality lives here; adapters (HTTP, CoAP) and the store never decide whether an
operation is allowed. The core imports only the standard library, reads no clock (``now_ms`` is
passed in) and makes no randomness (ids and tokens are passed in), so its tests are plain
functions. Failures are raised as the classes of :mod:`sessionhub.core.errors`.
"""
