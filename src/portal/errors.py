"""PortalError hierarchy: services raise these, app.py turns them into one JSON error shape."""

from __future__ import annotations

from typing import Any


class PortalError(Exception):
    """Base of every error a client may see: `{"error": {"code", "message", "details"}}`."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, details: Any = None, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code:
            self.code = code

    def to_body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "details": self.details}
        if request_id:
            error["request_id"] = request_id
        return {"error": error}


class BadRequest(PortalError):
    status_code = 400
    code = "bad_request"


class Unauthorized(PortalError):
    status_code = 401
    code = "unauthorized"


class Forbidden(PortalError):
    status_code = 403
    code = "forbidden"


class NotFound(PortalError):
    status_code = 404
    code = "not_found"


class Conflict(PortalError):
    status_code = 409
    code = "conflict"


class PreconditionRequired(PortalError):
    """428: the request must say which version it changes (`If-Match`)."""

    status_code = 428
    code = "precondition_required"


class PayloadTooLarge(PortalError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(PortalError):
    """429 with `Retry-After`: the caller must wait that many seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


class ValidationFailed(PortalError):
    """422 with `details` a list of `{"field": "a.b[0]", "message": ...}`."""

    status_code = 422
    code = "validation_failed"
