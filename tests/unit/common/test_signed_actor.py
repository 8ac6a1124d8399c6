import pytest

from services.common.signed_actor import BadSignature, sign, verify

CLAIMS = {"sub": "张三", "role": "expert", "expert_id": "exp_1"}


def test_a_signed_actor_is_read_back_until_it_expires():
    header = sign(CLAIMS, "s", now=1000)
    assert verify(header, "s", now=1059) == CLAIMS
    with pytest.raises(BadSignature, match="expired"):
        verify(header, "s", now=1061)


@pytest.mark.parametrize("header", [None, "", "a.b", "x.1000.y", sign(CLAIMS, "other", now=1000)])
def test_a_missing_malformed_or_forged_header_is_refused(header):
    with pytest.raises(BadSignature):
        verify(header, "s", now=1000)


def test_changing_the_claims_breaks_the_signature():
    body, expires, mac = sign(CLAIMS, "s", now=1000).split(".")
    forged = sign({**CLAIMS, "role": "province"}, "s", now=1000).split(".")[0]
    with pytest.raises(BadSignature, match="forged"):
        verify(f"{forged}.{expires}.{mac}", "s", now=1000)
