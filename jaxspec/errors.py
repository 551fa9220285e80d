"""Exception types raised by jaxspec.

Every error message says what was expected, what was found and what to do about it.
The classes subclass the built-in exception a caller would naturally catch
(``ValueError`` for bad values, ``OSError`` for unreadable files).
"""

from __future__ import annotations

__all__ = [
    "JaxspecError",
    "SpectrumValidationError",
    "FileFormatError",
    "UnknownFormatError",
    "LabelRangeError",
]


class JaxspecError(Exception):
    """Base class of every exception raised on purpose by jaxspec."""


class SpectrumValidationError(JaxspecError, ValueError):
    """Arrays given to :class:`jaxspec.Spectrum` (or a preprocessing step) are inconsistent."""


class FileFormatError(JaxspecError, OSError):
    """A file could not be read or written as the format it claims to be."""


class UnknownFormatError(FileFormatError):
    """No registered reader recognises a file."""


class LabelRangeError(JaxspecError, ValueError):
    """Stellar labels fall outside the bounds of a label space."""
