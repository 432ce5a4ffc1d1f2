"""Response helpers and parameter types shared by the routers."""

from __future__ import annotations

import pathlib
from typing import Annotated

from fastapi import Path, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel

from portal.values import MAX_ID

# A row id in a path: anything beyond the database's 64-bit integers is a 422, not a query that fails.
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize a response model once, in pydantic's Rust core.

    The route's declared `response_model` still documents the shape; returning a Response skips FastAPI's
    second validation of an object the service has already built and validated (measurable on large lists).
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def download(content: pathlib.Path | bytes, name: str, media_type: str = "application/gzip") -> Response:
    """A file to download: sent from disk, or the bytes given (the database bundle store)."""
    if isinstance(content, bytes):
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )
    return FileResponse(content, media_type=media_type, filename=name)
