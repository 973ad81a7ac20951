"""The SDK's version and the version of the standard it speaks."""

__version__ = "0.1.0"
SPEC_VERSION = "0.1"
