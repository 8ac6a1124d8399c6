"""Messages in Chinese and English, and the errors of the applications domain."""
from __future__ import annotations


class Bilingual(str):
    """A message whose string value is the English text and whose `.zh` is the Chinese.

    It stays a plain `str` for anything that only wants one language (marshmallow error
    lists, JSON), and `format` fills both texts, so marshmallow's own `{max}`-style
    templates keep the Chinese side.
    """

    zh: str

    def __new__(cls, en: str, zh: str) -> Bilingual:
        message = super().__new__(cls, en)
        message.zh = zh
        return message

    @property
    def en(self) -> str:
        return str.__str__(self)

    def format(self, *args, **kwargs) -> Bilingual:
        return Bilingual(self.en.format(*args, **kwargs), self.zh.format(*args, **kwargs))

    def __reduce__(self):
        return Bilingual, (self.en, self.zh)

    def as_dict(self) -> dict[str, str]:
        return {"message_zh": self.zh, "message_en": self.en}


class DomainError(Exception):
    """A rule of the domain refused the request; `message` says why in both languages."""

    def __init__(self, message: Bilingual):
        self.message = message
        super().__init__(message.en)


class QuotaExceeded(DomainError):
    pass


class CallNotOpen(DomainError):
    pass


class ApplicationLimitReached(DomainError):
    pass


class NotEditable(DomainError):
    pass


class NotRecommender(DomainError):
    pass


class RecommendationCapReached(DomainError):
    pass


class DecisionReasonRequired(DomainError):
    pass
