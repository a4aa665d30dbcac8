"""Mailbeacon: honest email open and click tracking.

The core knows no web framework and no cloud SDK; the edges adapt to it.
"""

__version__ = "0.1.0"
