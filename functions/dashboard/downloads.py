"""CSV downloads for the pages and /api/v1, streamed in chunks as the rows are read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response

CHUNK = 16_384


def csv_response(header: Iterable[str], rows: Iterable[list[str]], filename: str) -> Response:
    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            if buffer.tell() > CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(
        lines(),
        200,
        {
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
        mimetype="text/csv",
    )
