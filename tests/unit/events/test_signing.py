"""Messages between nodes: signed, and refused when forged, signed with another key, or replayed late; heard by
the sending node even while Redis is away."""

from __future__ import annotations

from cryptography.fernet import Fernet

from portal.events.bus import RedisEventBus
from portal.events.signing import MAX_AGE_SECONDS, Signer

KEY, OTHER = Fernet.generate_key().decode(), Fernet.generate_key().decode()
NOW = 1_780_000_000.25


def test_a_signed_message_opens_to_its_payload() -> None:
    signer = Signer([KEY])
    assert signer.open(signer.seal('{"type":"job.cancel","job_id":7}', now=NOW), now=NOW + 1) == (
        '{"type":"job.cancel","job_id":7}'
    )


def test_unsigned_forged_and_foreign_messages_are_refused() -> None:
    signer = Signer([KEY])
    sealed = signer.seal('{"job_id":7}', now=NOW)
    assert signer.open('{"type":"job.cancel","job_id":7}', now=NOW) is None  # what a task would publish
    assert signer.open(sealed.replace("7", "8"), now=NOW) is None  # tampered with
    assert signer.open(Signer([OTHER]).seal('{"job_id":7}', now=NOW), now=NOW) is None  # another portal's key
    assert signer.open(b"\xff" * 80, now=NOW) is None


def test_a_replay_after_the_window_is_refused() -> None:
    signer = Signer([KEY])
    sealed = signer.seal("{}", now=NOW)
    assert signer.open(sealed, now=NOW + MAX_AGE_SECONDS - 1) == "{}"
    assert signer.open(sealed, now=NOW + MAX_AGE_SECONDS + 1) is None


def test_keys_rotate_one_node_at_a_time() -> None:
    old, new = Signer([KEY]), Signer([OTHER, KEY])
    assert new.open(old.seal("{}", now=NOW), now=NOW) == "{}"  # a node not yet rotated is still heard
    assert old.open(new.seal("{}", now=NOW), now=NOW) is None  # until every node has the new key


def test_while_redis_is_away_a_nodes_own_listeners_still_hear_what_it_publishes() -> None:
    """A revocation published while Redis is down must still end this node's streams at once."""
    bus = RedisEventBus("redis://127.0.0.1:9/0", "portal-test-no-redis", Signer([KEY]))  # nothing listens on 9
    heard: list[dict[str, object]] = []
    bus.subscribe(heard.append)
    try:
        bus.publish({"type": "auth.changed", "user_id": 7})  # fails, and pauses publishing
        bus.publish({"type": "auth.changed", "user_id": 8})  # skipped while paused
        assert {"type": "auth.changed", "user_id": 7} in heard and {"type": "auth.changed", "user_id": 8} in heard
    finally:
        bus.close()
