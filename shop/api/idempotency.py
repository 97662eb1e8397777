"""``Idempotency-Key`` for POSTs that move money (docs/api.md, docs/design.md "Orders and payments").

How it works, and why:
1. The key row is inserted and **committed** as ``in_progress`` before any work, so a
   concurrent duplicate hits the unique constraint and answers 409 at once.
2. The view runs; its services own their transactions (a gateway call may happen
   outside them, so no lock is held across it).
3. The first non-5xx response is stored on the row; a retry with the same key gets
   it back; the same key with another body gets 422. A 5xx deletes the row so the
   client may retry with the same key.

A process that dies between 2 and 3 leaves the row ``in_progress``; retries then get
409 rather than risk doing the work twice (the client checks its orders and uses a
new key). That is the safe side for money.
"""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from rest_framework.response import Response

from shop.errors import Conflict, ServiceUnavailable, Unprocessable, ValidationFailed
from shop.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


class IdempotencyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed."


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used with a different request body."


def _request_hash(request, kwargs: dict) -> str:
    try:
        payload = json.dumps({"data": request.data, "kwargs": kwargs}, sort_keys=True, default=str)
    except (TypeError, ValueError):
        payload = request.body.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.path}\n{payload}".encode()).hexdigest()


class KeyStoreUnavailable(ServiceUnavailable):
    default_message = (
        "The Idempotency-Key cannot be checked right now; nothing was done. "
        "Send the same request with the same key shortly."
    )


def _existing_key(*, user, endpoint: str, key: str) -> IdempotencyKey:
    try:
        return IdempotencyKey.objects.get(user=user, endpoint=endpoint, key=key)
    except (OperationalError, InterfaceError) as exc:
        raise KeyStoreUnavailable() from exc


def idempotent(endpoint: str):
    """Decorate an APIView method (``post``) so it honours ``Idempotency-Key``."""

    def decorator(method):
        @wraps(method)
        def wrapper(self, request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return method(self, request, *args, **kwargs)
            if not key or len(key) > MAX_KEY_LENGTH:
                raise ValidationFailed(fields={HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} characters."]})

            request_hash = _request_hash(request, kwargs)
            try:
                with transaction.atomic():
                    row = IdempotencyKey.objects.create(
                        user=request.user, endpoint=endpoint, key=key, request_hash=request_hash
                    )
            except IntegrityError:
                existing = _existing_key(user=request.user, endpoint=endpoint, key=key)
                if existing.request_hash != request_hash:
                    raise IdempotencyKeyReused() from None
                if existing.status == IdempotencyKey.Status.IN_PROGRESS:
                    raise IdempotencyInProgress() from None
                replay = Response(existing.response_body, status=existing.response_status)
                replay["Idempotent-Replayed"] = "true"
                return replay
            except (OperationalError, InterfaceError) as exc:
                # The key cannot be checked: doing the work now could do it twice. Nothing has
                # been done; the client sends the same request with the same key later.
                raise KeyStoreUnavailable() from exc

            try:
                response = method(self, request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - rendered the same way DRF would
                response = self.handle_exception(exc)
            if response.status_code >= 500:
                row.delete()
                return response
            row.status = IdempotencyKey.Status.DONE
            row.response_status = response.status_code
            row.response_body = response.data
            row.save(update_fields=["status", "response_status", "response_body", "updated_at"])
            return response

        return wrapper

    return decorator
