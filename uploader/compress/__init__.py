"""Fitting media under an upload limit: probe, plan, encode, verify.

``compress_to_fit`` makes a stand-in (or parts) no larger than the limit at the best quality
the bytes allow; ``run_compressor_pool`` is the actor the pipeline runs; ``plan_encode`` is the
pure planner behind both.
"""

from __future__ import annotations

from ._compress import CompressOutcome as CompressOutcome
from ._compress import compress_to_fit as compress_to_fit
from ._compress import compress_with_details as compress_with_details
from ._compress import describe_compression as describe_compression
from ._errors import CannotFitError as CannotFitError
from ._errors import CompressionError as CompressionError
from ._errors import EncodeTimeoutError as EncodeTimeoutError
from ._errors import FFmpegFailedError as FFmpegFailedError
from ._errors import FFmpegNotFoundError as FFmpegNotFoundError
from ._errors import MediaMismatchError as MediaMismatchError
from ._errors import ProbeError as ProbeError
from ._model import EncodePlan as EncodePlan
from ._plan import container_overhead as container_overhead
from ._plan import plan_encode as plan_encode
from ._pool import Compressed as Compressed
from ._pool import CompressionFailed as CompressionFailed
from ._pool import CompressionJob as CompressionJob
from ._pool import CompressionProgress as CompressionProgress
from ._pool import run_compressor_pool as run_compressor_pool
from ._probe import MediaProbe as MediaProbe
from ._probe import StreamInfo as StreamInfo
from ._probe import media_type_for_suffix as media_type_for_suffix
from ._probe import probe_media as probe_media
from ._sample import SampleResult as SampleResult
