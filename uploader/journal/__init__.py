"""The delivery journal: what each batch was, and what became of it, so a run can resume.

`open_journal` opens the append-only journal of one folder and destination; the pipeline
announces each batch (`Journal.intent`) before its request and records its outcome after.
A later run asks `Journal.resends` for uncertain bot batches to send again with their nonce,
then `Journal.decide` for each detected file. The decisions themselves are pure
(`decide_file`, `plan_resends`) and the records' format is `encode`/`decode` (version 1).
"""

from __future__ import annotations

from .._limits import NONCE_WINDOW_SECONDS as NONCE_WINDOW_SECONDS
from ._files import JournalBusyError as JournalBusyError
from ._files import JournalError as JournalError
from ._files import JournalMismatchError as JournalMismatchError
from ._files import default_journal_dir as default_journal_dir
from ._files import journal_name as journal_name
from ._records import SCHEMA_VERSION as SCHEMA_VERSION
from ._records import Compressed as Compressed
from ._records import DestinationKey as DestinationKey
from ._records import Entry as Entry
from ._records import Fingerprint as Fingerprint
from ._records import Intent as Intent
from ._records import Outcome as Outcome
from ._records import Part as Part
from ._records import Record as Record
from ._records import RecordError as RecordError
from ._records import RunHeader as RunHeader
from ._records import StandIn as StandIn
from ._records import Status as Status
from ._records import decode as decode
from ._records import destination_key as destination_key
from ._records import encode as encode
from ._resume import AlreadyDelivered as AlreadyDelivered
from ._resume import Delivery as Delivery
from ._resume import FileDecision as FileDecision
from ._resume import NeedsHash as NeedsHash
from ._resume import Resend as Resend
from ._resume import ResendBatch as ResendBatch
from ._resume import ResendPlan as ResendPlan
from ._resume import ResumePolicy as ResumePolicy
from ._resume import Seen as Seen
from ._resume import Send as Send
from ._resume import StillUncertain as StillUncertain
from ._resume import Why as Why
from ._resume import decide_file as decide_file
from ._resume import plan_resends as plan_resends
from ._resume import resend_candidates as resend_candidates
from ._state import JournalState as JournalState
from ._state import JournalWarning as JournalWarning
from ._state import load as load
from ._store import Journal as Journal
from ._store import open_journal as open_journal
