"""Person keys: how services recognise the same person without sharing ID numbers.

A person key is an HMAC of the normalised resident ID number under PERSON_KEY_SECRET,
which the services that need it share. A plain hash would not do: ID numbers have so
little entropy (region, birth date, sequence) that they are easily enumerated.
"""
import hashlib
import hmac
import os

DEV_PERSON_KEY_SECRET = "dev-only-person-key-secret"


def person_key(id_number: str, secret: str | None = None) -> str:
    key = (secret or os.environ.get("PERSON_KEY_SECRET", DEV_PERSON_KEY_SECRET)).encode()
    return hmac.new(key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()
