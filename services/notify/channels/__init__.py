"""The ways out: SMTP mail, SMS providers and webhooks. A sender raises `TransientFailure`
for what may work later (the delivery is retried with backoff) and `PermanentFailure`
for what never will (the delivery is given up)."""


class DeliveryFailed(Exception):
    """A delivery attempt failed; the message says why, for the delivery's record."""


class TransientFailure(DeliveryFailed):
    pass


class PermanentFailure(DeliveryFailed):
    pass
