"""Messages in Chinese and English: what the services tell people, in both languages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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

    def format(self, *args: object, **kwargs: object) -> Bilingual:
        return Bilingual(self.en.format(*args, **kwargs), self.zh.format(*args, **kwargs))

    def __reduce__(self) -> tuple[type[Bilingual], tuple[str, str]]:
        return Bilingual, (self.en, self.zh)

    def as_dict(self) -> dict[str, str]:
        return {"message_zh": self.zh, "message_en": self.en}


def as_bilingual(message: Any) -> Bilingual:
    """A message as a `Bilingual`; one with a single text gives it for both languages."""
    return message if isinstance(message, Bilingual) else Bilingual(str(message), str(message))


def localise_errors(messages: Any, language: str) -> Any:
    """The same error structure with each message in `language` ('zh' or 'en')."""
    if isinstance(messages, Mapping):
        return {key: localise_errors(value, language) for key, value in messages.items()}
    if isinstance(messages, list):
        return [localise_errors(value, language) for value in messages]
    if language == "zh" and isinstance(messages, Bilingual):
        return messages.zh
    return str(messages)
