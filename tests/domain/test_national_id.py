"""GB 11643 national IDs: checksum, shape, date and masking."""
import pytest

from app.domain import national_id
from app.domain.national_id import NationalIdError

# Check digits worked by hand: 11010519491231002 → Σ(d×w) = 167, 167 mod 11 = 2 → "X".
VALID = "11010519491231002X"


def test_valid_id_with_x():
    assert national_id.validate(VALID) == VALID
    assert national_id.validate(" 11010519491231002x ") == VALID
    assert national_id.validate("１１０１０５１９４９１２３１００２Ｘ") == VALID


def test_check_digit_by_hand():
    assert national_id.check_digit("11010519491231002") == "X"
    assert national_id.check_digit("44052418800101001") == "4"


@pytest.mark.parametrize("raw,reason", [
    ("110105194912310021", "校验位"),       # wrong check digit
    ("11010519491231002", "18 位"),          # too short
    ("11010519491231002XX", "18 位"),        # too long
    ("1101051949123100AX", "数字"),          # letters inside
    ("110105194902300021", "出生日期"),       # 30 February
])
def test_invalid_ids_say_why(raw, reason):
    with pytest.raises(NationalIdError) as info:
        national_id.validate(raw)
    assert reason in info.value.zh
    assert info.value.en


def test_masking_hides_birth_date_and_sequence():
    assert national_id.mask(VALID) == "110105********002X"
    assert "1949" not in national_id.mask(VALID)


def test_every_wrong_last_digit_is_refused():
    for wrong in "0123456789X":
        candidate = VALID[:17] + wrong
        if wrong == "X":
            assert national_id.validate(candidate) == VALID
        else:
            with pytest.raises(NationalIdError):
                national_id.validate(candidate)
