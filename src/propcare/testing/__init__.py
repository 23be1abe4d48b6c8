"""Test support for propcare and for the code that embeds or extends it.

- :mod:`propcare.testing.contract`: the storage contract suite; a backend runs it
  by subclassing :class:`~propcare.testing.contract.StorageContract` and
  pointing its ``storage_url`` fixture at a fresh database.
- :mod:`propcare.testing.fakes`: recording and failing channels and subscribers.
- :mod:`propcare.testing.strategies`: Hypothesis strategies for money and records.

Importing this package needs pytest and hypothesis (the ``dev`` extra).
"""

from propcare.testing.fakes import FlakyChannel, RecordingChannel, RecordingSubscriber

__all__ = ["FlakyChannel", "RecordingChannel", "RecordingSubscriber"]
