"""The durable outbox (SPEC §9): selected samples wait on disk until S3 has them, and each gets exactly one answer.

`schedule` decides (pure), `spool` keeps the bytes (disk), `delivery` runs the uploads (threads).
"""

from .delivery import Answers, Outbox
from .spool import InputChanged, SampleRecord

__all__ = ["Answers", "InputChanged", "Outbox", "SampleRecord"]
