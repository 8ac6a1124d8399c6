"""The check-digit algorithms of the Chinese identity standards, written independently of
the code under test from the standards' definitions (weights as powers of 3 mod 31 for
GB 32100, 2 mod 11 for GB 11714 and GB 11643), to check that code against them."""

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def gb32100_check(first17: str) -> str:
    weighted = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return USCC_ALPHABET[-weighted % 31]


def gb11714_check(body8: str) -> str:
    weighted = sum(int(c, 36) * pow(2, 8 - i, 11) for i, c in enumerate(body8))
    value = -weighted % 11
    return "X" if value == 10 else str(value)


def gb11643_check(first17: str) -> str:
    weighted = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    return "10X98765432"[weighted % 11]


def credit_code_from(prefix8: str, body8: str) -> str:
    """prefix8: authority, category and division code (positions 1-8); body8: the
    organisation code body; both check digits are computed."""
    first17 = prefix8 + body8 + gb11714_check(body8)
    return first17 + gb32100_check(first17)


def resident_id_from(first17: str) -> str:
    return first17 + gb11643_check(first17)
