"""Incremental file formats: each encoder turns Arrow tables into bytes as they come.

Rows reach the encoders as Arrow (decoded from binary ``COPY … TO STDOUT`` by
hub/datasets/arrow_read.py), never as Python objects: Arrow IPC (stream format) and
Parquet are written by pyarrow, a record batch (Parquet: a row group) per batch read, into
a sink that hands the bytes on at once; CSV by pyarrow's CSV writer; JSON lines are
built column by column with Arrow compute kernels. Memory holds one batch, whatever
the size of the whole. Timestamps are UTC: ``timestamp[us, UTC]`` in Arrow and
Parquet, ISO-8601 in text (``2026-03-01T00:00:00Z`` in JSON lines,
``2026-03-01T00:00:00+00:00`` in CSV, a fraction only when there is one).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

BINARY_FORMATS = ("arrow", "parquet")

ARROW_TYPES = {
    "timestamp": pa.timestamp("us", tz="UTC"),
    "text": pa.string(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
}
_SECONDS = pa.timestamp("s", tz="UTC")
# Arrow compute in and out: pyarrow's stubs type each kernel too narrowly to follow.
Column = Any
_CONTROL = "[\\x00-\\x1f]"  # what JSON must escape as \uXXXX


class Encoder(Protocol):
    def begin(self) -> bytes: ...

    def rows(self, table: pa.Table) -> bytes: ...

    def end(self) -> bytes: ...


def arrow_schema(columns: Sequence[str], types: Sequence[str]) -> pa.Schema:
    return pa.schema([pa.field(n, ARROW_TYPES[t]) for n, t in zip(columns, types, strict=True)])


def _iso(column: Column, zone: str) -> Column:
    """ISO-8601 text of UTC timestamps, a fraction only when there is one (as Python's
    ``isoformat``), then *zone*."""
    whole: Column = pc.cast(column, _SECONDS, safe=False)
    exact = pc.equal(pc.cast(whole, column.type), column)
    text = pc.if_else(exact, pc.strftime(whole, format="%Y-%m-%dT%H:%M:%S"),
                      pc.strftime(column, format="%Y-%m-%dT%H:%M:%S"))
    return pc.binary_join_element_wise(text, zone, "")


def _json_timestamps(column: Column) -> Column:
    return pc.binary_join_element_wise('"', _iso(column, "Z"), '"', "")


def _json_strings(column: Column) -> Column | None:
    """Quoted and escaped; None when a value holds a control character (rare: the
    caller lets msgspec encode that table)."""
    if pc.any(pc.match_substring_regex(column, _CONTROL)).as_py():
        return None
    escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "")


def _json_column(column: Column) -> Column | None:
    kind = column.type
    text: Column
    if pa.types.is_timestamp(kind):
        text = _json_timestamps(column)
    elif pa.types.is_string(kind):
        quoted = _json_strings(column)
        if quoted is None:
            return None
        text = quoted
    elif pa.types.is_floating(kind):
        # Not-a-number and infinities are null in JSON, as msgspec writes them.
        text = pc.if_else(pc.is_finite(column), pc.cast(column, pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    else:
        text = pc.cast(column, pa.string())
    return pc.fill_null(text, "null")


def _buffer_bytes(lines: Column) -> bytes:
    """The values of a string array back to back (each ends with its newline)."""
    if len(lines) == 0:
        return b""
    _validity, offsets_buffer, data = lines.buffers()
    offsets = np.frombuffer(memoryview(offsets_buffer), dtype=np.int32, count=len(lines) + 1,
                            offset=lines.offset * 4)
    return bytes(memoryview(data)[int(offsets[0]):int(offsets[-1])])


class JsonLines:
    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)
        self._keys = [msgspec.json.encode(c).decode("utf-8") + ":" for c in self._columns]
        self._encoder = msgspec.json.Encoder()

    def begin(self) -> bytes:
        return b""

    def _fallback(self, table: pa.Table) -> bytes:
        return self._encoder.encode_lines(table.select(list(self._columns)).to_pylist())

    def rows(self, table: pa.Table) -> bytes:
        if table.num_rows == 0:
            return b""
        parts: list[Any] = []
        for i, name in enumerate(self._columns):
            text = _json_column(table.column(name))
            if text is None:
                return self._fallback(table)
            parts += [("{" if i == 0 else ",") + self._keys[i], text]
        lines = pc.binary_join_element_wise(*parts, "}\n", "")
        return b"".join(_buffer_bytes(chunk) for chunk in lines.chunks)

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


class _ArrowWriter:
    """An encoder around a pyarrow writer that writes tables into a :class:`_Sink`."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._sink = _Sink()
        self._writer: Any = None

    def _open(self, sink: Any) -> Any:
        raise NotImplementedError

    def begin(self) -> bytes:
        self._writer = self._open(pa.PythonFile(self._sink, mode="w"))
        return self._sink.take()

    def rows(self, table: pa.Table) -> bytes:
        if table.num_rows:
            self._writer.write_table(table.select(self._schema.names).cast(self._schema))
        return self._sink.take()

    def end(self) -> bytes:
        self._writer.close()
        return self._sink.take()


class Csv(_ArrowWriter):
    """Times as ``2026-05-01T00:00:00+00:00`` (Arrow's writer would put a space and ``Z``)."""

    def _open(self, sink: Any) -> Any:
        text = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                          for f in self._schema])
        return pa_csv.CSVWriter(sink, text)

    def rows(self, table: pa.Table) -> bytes:
        table = table.select(self._schema.names)
        for i, field in enumerate(self._schema):
            if pa.types.is_timestamp(field.type):
                table = table.set_column(i, field.name, _iso(table.column(i), "+00:00"))
        if table.num_rows:
            self._writer.write_table(table)
        return self._sink.take()


class ArrowStream(_ArrowWriter):
    """Arrow IPC stream format (``application/vnd.apache.arrow.stream``)."""

    def _open(self, sink: Any) -> Any:
        return pa.ipc.new_stream(sink, self._schema)


class Parquet(_ArrowWriter):
    def _open(self, sink: Any) -> Any:
        return pq.ParquetWriter(sink, self._schema, compression="zstd")


def encoder_for(fmt: str, columns: Sequence[str], types: Sequence[str]) -> Encoder:
    if fmt == "jsonl":
        return JsonLines(columns)
    schema = arrow_schema(columns, types)
    if fmt == "csv":
        return Csv(schema)
    return ArrowStream(schema) if fmt == "arrow" else Parquet(schema)
