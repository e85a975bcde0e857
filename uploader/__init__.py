"""uploader: deliver a directory of downloaded media into a Discord channel.

This module is the whole public API; everything else is private (``_name``) or a documented
subpackage (``uploader.testing``).
"""

from __future__ import annotations

from ._batching import plan_batches as plan_batches
from ._destination import Destination as Destination
from ._detect import ScanResult as ScanResult
from ._detect import find_media_files as find_media_files
from ._detect import run_detector as run_detector
from ._detect import scan_media as scan_media
from ._errors import SettingsError as SettingsError
from ._errors import UploaderError as UploaderError
from ._events import BatchSent as BatchSent
from ._events import CompressionStarted as CompressionStarted
from ._events import DetectionDone as DetectionDone
from ._events import DiscordUnavailable as DiscordUnavailable
from ._events import FileCompressed as FileCompressed
from ._events import FileDelivered as FileDelivered
from ._events import FileFailed as FileFailed
from ._events import FileFound as FileFound
from ._events import FileSkipped as FileSkipped
from ._events import LimitLowered as LimitLowered
from ._events import MediaWarning as MediaWarning
from ._events import UploadDone as UploadDone
from ._models import MIB as MIB
from ._models import FileOutcome as FileOutcome
from ._models import FileStatus as FileStatus
from ._models import MediaFile as MediaFile
from ._models import MediaType as MediaType
from ._models import RefusedPath as RefusedPath
from ._models import SkippedFile as SkippedFile
from ._models import UnreadablePath as UnreadablePath
from ._models import UploadBatch as UploadBatch
from ._models import UploadResult as UploadResult
from ._pipeline import UploadPipeline as UploadPipeline
from ._pipeline import open_upload_pipeline as open_upload_pipeline
from ._pipeline import run_upload_pipeline as run_upload_pipeline
from ._pipeline import upload_directory as upload_directory
from ._settings import Settings as Settings
from ._version import __version__ as __version__
from .compress import CompressionProgress as CompressionProgress
from .discord import Channel as Channel
from .discord import Webhook as Webhook
from .progress import ProgressEvent as ProgressEvent
from .progress import Reporter as Reporter
