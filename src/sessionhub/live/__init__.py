"""The change hub: publishes committed changes, in sequence order, to whoever watches."""

from sessionhub.live.hub import ChangeHub

__all__ = ["ChangeHub"]
