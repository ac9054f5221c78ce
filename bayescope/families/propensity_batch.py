"""Batch scoring of a customer file of any size with a propensity run.

``score_file`` streams one file in row chunks (:mod:`bayescope.data.table_chunks`, pandas /
pyarrow), validates each chunk with the one propensity validation (errors name the file's
rows), scores it exactly (:class:`~bayescope.families.propensity.PropensityScorer`), and appends
it to a Parquet (or CSV) file written beside the target and renamed onto it only when every
chunk succeeded. Memory is one chunk plus eight bytes per customer (the hashes that catch a
``customer_id`` repeated across chunks), whatever the file size.

``score_on_dask`` (``--engine dask``) does the same on a Dask cluster for a file, a glob or a
folder of parts: each worker reads, validates and scores its partitions and writes them into a
folder of Parquet parts (:func:`~bayescope.inference.partitioned_output.score_table_on_dask`);
the client receives row counts, unseen-level counts and the id hashes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bayescope.data.propensity_features import PropensityDesign
from bayescope.data.propensity_table import CATEGORICAL, validate_propensity_columns
from bayescope.data.table_chunks import iter_file_chunks
from bayescope.data.validation import raise_for_repeated_ids
from bayescope.errors import BayescopeInputError
from bayescope.files import atomic_path
from bayescope.inference.dask_engine import check_engine, dask_client
from bayescope.inference.partitioned_output import score_table_on_dask
from bayescope.inference.propensity_scoring import score_exact
from bayescope.models.segments import SegmentModel

SCORE_COLUMNS = ["customer_id", "p_mean", "p_low", "p_high", "segment", "segment_name"]
SCORE_CHUNK = 100_000

log = logging.getLogger(__name__)


class StoredPropensity(Protocol):
    """What scoring needs of a stored propensity run (its family's ``PropensityRun``)."""

    @property
    def design(self) -> PropensityDesign:
        """The training-fitted design transform."""
        ...

    @property
    def segments(self) -> SegmentModel:
        """The fitted segmentation."""
        ...

    @property
    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and Cholesky factor of the Laplace posterior."""
        ...


@dataclass
class PropensityScorer:
    """A run's design, segments and Gaussian posterior, parsed once, to score many chunks."""

    design: PropensityDesign
    segments: SegmentModel
    mean: np.ndarray
    chol: np.ndarray

    @classmethod
    def from_run(cls, run: StoredPropensity) -> PropensityScorer:
        """Parse the run's stored attributes."""
        mean, chol = run.gaussian
        return cls(run.design, run.segments, mean, chol)

    def score(self, columns: dict[str, np.ndarray], row_offset: int = 0,
              within_training: bool = True) -> tuple[pd.DataFrame, dict[str, int]]:
        """``customer_id, p_mean, p_median, p_low, p_high, segment, segment_name`` and the
        count of unseen category values per column, for one chunk of validated columns.

        With ``within_training``, values beyond the run's training ranges are refused
        (:meth:`~bayescope.data.propensity_features.PropensityDesign.check_ranges`; rows
        numbered from ``row_offset``): a logistic model extrapolates without bound in them.
        """
        if within_training:
            self.design.check_ranges(columns, row_offset)
        x, unseen = self.design.transform(columns)
        p_mean, p_low, p_high = score_exact(x, self.mean, self.chol)
        segment = self.segments.assign(x)
        # The linear predictor is Gaussian and the logistic monotone: the median is exact.
        p_median = 1.0 / (1.0 + np.exp(-(self.mean[0] + x @ self.mean[1:])))
        frame = pd.DataFrame({
            "customer_id": columns["customer_id"].astype(str), "p_mean": p_mean,
            "p_median": p_median, "p_low": p_low, "p_high": p_high, "segment": segment,
            "segment_name": np.asarray(self.segments.segment_names, dtype=object)[segment]})
        return frame, unseen


def score_run(run: StoredPropensity | PropensityScorer, columns: dict[str, np.ndarray],
              progress: Callable[[int, int], None] | None = None, row_offset: int = 0,
              within_training: bool = True) -> tuple[pd.DataFrame, dict[str, int]]:
    """Scores and segments for validated columns held in memory, in row chunks; also the
    unseen counts (``row_offset`` and ``within_training`` as in
    :meth:`PropensityScorer.score`). (Files go through
    :func:`bayescope.families.propensity_batch.score_file`.)"""
    scorer = run if isinstance(run, PropensityScorer) else PropensityScorer.from_run(run)
    n = len(columns["customer_id"])
    parts = []
    unseen_total = dict.fromkeys(CATEGORICAL, 0)
    for start in range(0, n, SCORE_CHUNK):
        index = slice(start, min(start + SCORE_CHUNK, n))
        frame, unseen = scorer.score({k: v[index] for k, v in columns.items()},
                                     row_offset + start, within_training)
        for column, count in unseen.items():
            unseen_total[column] += count
        parts.append(frame)
        if progress is not None:
            progress(index.stop - index.start, n)
    if any(unseen_total.values()):
        log.warning("unseen category levels scored as 'unseen': %s",
                    {k: v for k, v in unseen_total.items() if v})
    return pd.concat(parts, ignore_index=True), unseen_total


@dataclass
class BatchReport:
    """What a batch scoring wrote: rows, chunks and unseen category values per column."""

    rows: int = 0
    chunks: int = 0
    unseen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORICAL, 0))


class _ChunkWriter:
    """Append frames to one Parquet or CSV file."""

    def __init__(self, path: Path, parquet: bool) -> None:
        self.path, self.parquet = path, parquet
        self._writer: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table)
        else:
            frame.to_csv(self.path, mode="w" if self._first else "a", header=self._first,
                         index=False)
        self._first = False

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _score_partition(raw: pd.DataFrame, first_row: int, number: int, scorer: PropensityScorer
                     ) -> tuple[pd.DataFrame, tuple[np.ndarray, dict[str, int]]]:
    columns = validate_propensity_columns(raw, require_target=False, row_offset=first_row)
    frame, unseen = scorer.score(columns, first_row)
    return frame[SCORE_COLUMNS], (pd.util.hash_array(columns["customer_id"]), unseen)


def score_on_dask(run: StoredPropensity, source: str | Path, out: str | Path,
                  scheduler: str | None = None) -> BatchReport:
    """Score ``source`` (a file, glob or folder of parts) on a Dask cluster, each worker
    writing its partition's scores into the Parquet folder ``out``.

    Raises
    ------
    BayescopeInputError
        As :func:`score_file`: the first invalid partition (file, column and file rows named),
        or a ``customer_id`` that appears twice anywhere (rows counted over all partitions in
        order); ``out`` is then left untouched.
    """
    scorer = PropensityScorer.from_run(run)

    def finish(extras: list[Any]) -> None:
        raise_for_repeated_ids(np.concatenate([hashes for hashes, _ in extras]))

    with dask_client(scheduler):
        scored = score_table_on_dask(source, _score_partition, out, shared=scorer,
                                     finish=finish)
    report = BatchReport(rows=scored.rows, chunks=scored.parts)
    for _, unseen in scored.extras:
        for column, count in unseen.items():
            report.unseen[column] += count
    return report


def score_file(run: StoredPropensity, source: str | Path, out: str | Path,
               engine: str = "pandas", rows: int = 100_000,
               progress: Callable[[int], None] | None = None,
               scheduler: str | None = None) -> BatchReport:
    """Score ``source`` chunk by chunk into ``out`` (``SCORE_COLUMNS``); see module docstring.
    With ``engine="dask"``, :func:`score_on_dask` (``out`` is then a folder of parts).

    Raises
    ------
    BayescopeInputError
        On the first invalid chunk (column and file rows named), or when a ``customer_id``
        appears twice anywhere in the input; ``out`` is then left untouched.
    """
    check_engine(engine, scheduler)
    if engine == "dask":
        return score_on_dask(run, source, out, scheduler)
    if rows < 1:
        raise BayescopeInputError("--chunk-rows must be positive", field="chunk_rows")
    chunks: Iterator[tuple[int, pd.DataFrame]] = iter_file_chunks(source, rows)
    out = Path(out)
    scorer = PropensityScorer.from_run(run)
    report = BatchReport()
    hashes: list[np.ndarray] = []
    with atomic_path(out) as tmp:
        writer = _ChunkWriter(tmp, out.suffix.lower() in (".parquet", ".pq"))
        try:
            for first, chunk in chunks:
                columns = validate_propensity_columns(chunk, require_target=False,
                                                      row_offset=first)
                hashes.append(pd.util.hash_array(columns["customer_id"]))
                frame, unseen = scorer.score(columns, first)
                writer.write(frame[SCORE_COLUMNS])
                for column, count in unseen.items():
                    report.unseen[column] += count
                report.rows += len(frame)
                report.chunks += 1
                if progress is not None:
                    progress(len(frame))
            raise_for_repeated_ids(np.concatenate(hashes))
        finally:
            writer.close()
    return report
