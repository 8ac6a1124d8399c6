import json
import pickle

from services.common.bilingual import Bilingual, as_bilingual, localise_errors


def test_bilingual_messages_survive_format_and_pickle():
    message = Bilingual("Longer than maximum length {max}.", "长度超过上限{max}个字符。").format(max=5)
    assert (message, message.zh) == ("Longer than maximum length 5.", "长度超过上限5个字符。")
    restored = pickle.loads(pickle.dumps(message))
    assert restored.zh == message.zh and json.dumps(restored) == '"Longer than maximum length 5."'


def test_errors_are_localised_in_place_and_single_language_messages_stay_as_written():
    errors = {"name": [Bilingual("Must not be empty.", "不能为空。")], "items": {"0": ["plain text"]}}
    assert localise_errors(errors, "zh") == {"name": ["不能为空。"], "items": {"0": ["plain text"]}}
    assert localise_errors(errors, "en") == {"name": ["Must not be empty."], "items": {"0": ["plain text"]}}
    assert as_bilingual("plain text").as_dict() == {"message_zh": "plain text", "message_en": "plain text"}
