"""sessionhub: live sessions at physical places, over the wire dialects their clients already speak."""

__version__ = "0.1.0"
__all__ = ["__version__"]
