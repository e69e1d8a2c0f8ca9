"""Incremental file formats: each encoder turns chunks of rows into bytes as they come.

JSON lines and CSV are written row by row; Arrow IPC (stream format) and Parquet by
pyarrow, one record batch (Parquet: one row group) per chunk, into a sink that hands
the bytes on at once. Memory holds one chunk, whatever the size of the whole.
Timestamps are UTC: ISO-8601 in text, ``timestamp[us, UTC]`` in Arrow and Parquet.
"""

from __future__ import annotations

import csv
import io
import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

Row = Sequence[Any]
BINARY_FORMATS = ("arrow", "parquet")
_INT8 = struct.Struct("!q")
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00Z, PostgreSQL's epoch, in Unix µs

ARROW_TYPES = {
    "timestamp": pa.timestamp("us", tz="UTC"),
    "text": pa.string(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
}


class Encoder(Protocol):
    def begin(self) -> bytes: ...

    def rows(self, chunk: Sequence[Row]) -> bytes: ...

    def end(self) -> bytes: ...


def arrow_schema(columns: Sequence[str], types: Sequence[str]) -> pa.Schema:
    return pa.schema([pa.field(n, ARROW_TYPES[t]) for n, t in zip(columns, types, strict=True)])


class EpochMicrosLoader(Loader):
    """Binary ``timestamptz`` as microseconds since the Unix epoch (an int), not a datetime.

    pyarrow converts tz-aware datetimes one Python call at a time (about 15,000 a
    second); ints become an int64 array at once and are viewed as timestamps for free.
    """

    format = Format.BINARY

    def load(self, data: Buffer) -> int:
        micros: int = _INT8.unpack(data)[0]
        return micros + _PG_EPOCH_US


def use_epoch_micros(adapters: AdaptersMap) -> None:
    """Make a cursor (its ``adapters``) load timestamptz for :func:`record_batch`."""
    adapters.register_loader("timestamptz", EpochMicrosLoader)


def _array(values: Sequence[Any], kind: pa.DataType) -> pa.Array[Any]:
    if pa.types.is_timestamp(kind):
        if any(isinstance(v, datetime) for v in values):
            # Aware datetimes into a zone-less type come out as UTC.
            return pa.array(values, type=pa.timestamp("us")).view(kind)
        if None in values:
            return pa.array(values, type=pa.int64()).view(kind)
        # pyarrow converts large Python ints slowly (~40,000 a second); numpy does not.
        return pa.array(np.fromiter(values, dtype=np.int64, count=len(values))).view(kind)
    return pa.array(values, type=kind)


def record_batch(schema: pa.Schema, chunk: Sequence[Row]) -> pa.RecordBatch:
    """A batch from rows whose timestamps are datetimes or epoch microseconds."""
    width = len(schema)
    columns = list(zip(*(r[:width] for r in chunk), strict=True)) if chunk else [()] * width
    arrays = [_array(col, field.type) for col, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class JsonLines:
    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)
        self._encoder = msgspec.json.Encoder()

    def begin(self) -> bytes:
        return b""

    def rows(self, chunk: Sequence[Row]) -> bytes:
        names = self._columns
        return self._encoder.encode_lines([dict(zip(names, r, strict=False)) for r in chunk])

    def end(self) -> bytes:
        return b""


def _csv_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class Csv:
    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)

    def _write(self, rows: Sequence[Row]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        width = len(self._columns)
        writer.writerows([_csv_value(v) for v in r[:width]] for r in rows)
        return buffer.getvalue().encode("utf-8")

    def begin(self) -> bytes:
        return self._write([self._columns])

    def rows(self, chunk: Sequence[Row]) -> bytes:
        return self._write(chunk)

    def end(self) -> bytes:
        return b""


class _Sink(io.RawIOBase):
    """A write-only file whose bytes are taken away after every write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class ArrowStream:
    """Arrow IPC stream format (``application/vnd.apache.arrow.stream``)."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._sink = _Sink()
        self._writer: Any = None

    def begin(self) -> bytes:
        self._writer = pa.ipc.new_stream(self._sink, self._schema)
        return self._sink.take()

    def rows(self, chunk: Sequence[Row]) -> bytes:
        if chunk:
            self._writer.write_batch(record_batch(self._schema, chunk))
        return self._sink.take()

    def end(self) -> bytes:
        self._writer.close()
        return self._sink.take()


class Parquet:
    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._sink = _Sink()
        self._writer: pq.ParquetWriter | None = None

    def begin(self) -> bytes:
        self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), self._schema,
                                       compression="zstd")
        return self._sink.take()

    def rows(self, chunk: Sequence[Row]) -> bytes:
        assert self._writer is not None
        if chunk:
            self._writer.write_batch(record_batch(self._schema, chunk))
        return self._sink.take()

    def end(self) -> bytes:
        assert self._writer is not None
        self._writer.close()
        return self._sink.take()


def encoder_for(fmt: str, columns: Sequence[str], types: Sequence[str]) -> Encoder:
    if fmt == "jsonl":
        return JsonLines(columns)
    if fmt == "csv":
        return Csv(columns)
    schema = arrow_schema(columns, types)
    return ArrowStream(schema) if fmt == "arrow" else Parquet(schema)
