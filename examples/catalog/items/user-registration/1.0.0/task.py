"""user-registration 1.0.0: create a user account (simulated; nothing is stored)."""

import asyncio
import hashlib
from datetime import UTC, datetime

RESERVED_USERNAMES = frozenset({"root", "admin", "administrator"})


class ValidationError(ValueError):
    """A refusal naming the input at fault: the portal shows the message under that form field."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def validate(inputs):
    """Return cleaned inputs; refuse reserved usernames, which the schema cannot express."""
    username = str(inputs.get("username", "")).strip().lower()
    if not username:
        raise ValidationError("username", "a username is required")
    if username in RESERVED_USERNAMES:
        raise ValidationError("username", f"{username!r} is reserved, choose another name")
    full_name = " ".join(str(inputs.get("full_name", "")).split())
    if not full_name:
        raise ValidationError("full_name", "a name is required")
    out = dict(inputs)
    out["username"] = username
    out["email"] = str(inputs.get("email", "")).strip().lower()
    out["full_name"] = full_name
    return out


async def run(inputs, progress_callback=None):
    inputs = validate(inputs)
    username = inputs["username"]
    role = inputs.get("role", "viewer")
    send_welcome = inputs.get("send_welcome_email", True)

    if progress_callback is not None:
        await progress_callback(20, f"Checking that {username} is free")
    await asyncio.sleep(0.1)

    if progress_callback is not None:
        await progress_callback(60, f"Creating account {username} with role {role}")
    await asyncio.sleep(0.2)

    user = {
        "id": "usr_" + hashlib.sha256(username.encode()).hexdigest()[:12],
        "username": username,
        "email": inputs["email"],
        "full_name": inputs["full_name"],
        "role": role,
        "status": "active",
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    print(f"created user {username} ({user['id']})", flush=True)

    if send_welcome:
        if progress_callback is not None:
            await progress_callback(85, f"Sending welcome email to {user['email']}")
        await asyncio.sleep(0.1)

    if progress_callback is not None:
        await progress_callback(100, f"User {username} created")

    return {"user": user, "welcome_email_sent": bool(send_welcome)}
