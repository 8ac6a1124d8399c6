"""Person keys: how services recognise the same person without sharing ID numbers.

A person key is an HMAC of the normalised resident ID number under PERSON_KEY_SECRET,
which the services that need it share. A plain hash would not do: ID numbers have so
little entropy (region, birth date, sequence) that they are easily enumerated.
"""

import hashlib
import hmac
from collections.abc import Mapping

from services.common.config import secret_setting

DEV_PERSON_KEY_SECRET = "dev-only-person-key-secret"


def person_key_secret(environ: Mapping[str, str] | None = None) -> str:
    """PERSON_KEY_SECRET; the development value only in development mode (CHUYI_ENV=development).
    Raises UnsafeSecret otherwise: a service checks it when it starts, never on a request."""
    return secret_setting(
        "PERSON_KEY_SECRET", DEV_PERSON_KEY_SECRET, "person keys made with a public value can be reversed", environ
    )


def person_key(id_number: str, secret: str | None = None) -> str:
    key = (secret or person_key_secret()).encode()
    return hmac.new(key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()
