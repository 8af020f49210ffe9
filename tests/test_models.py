"""Identity numbers are checked the way the registries do."""

from __future__ import annotations

import pytest

from dpa_engine.models import belgian_enterprise_number, dutch_kvk_number, vat_number


class DescribeBelgianEnterpriseNumber:
    @pytest.mark.parametrize("raw", ["0403.170.701", "0403170701", "BE 0403 170 701"])
    def it_accepts_valid_numbers_in_any_notation(self, raw: str) -> None:
        assert belgian_enterprise_number(raw) == "0403.170.701"

    def it_rejects_a_wrong_check_digit(self) -> None:
        with pytest.raises(ValueError, match="check digits"):
            belgian_enterprise_number("0403.170.702")

    def it_rejects_a_wrong_length(self) -> None:
        with pytest.raises(ValueError, match="10 digits"):
            belgian_enterprise_number("403.170.70")


class DescribeOtherNumbers:
    def it_accepts_an_8_digit_kvk_number(self) -> None:
        assert dutch_kvk_number("3412 3456") == "34123456"

    def it_rejects_a_short_kvk_number(self) -> None:
        with pytest.raises(ValueError, match="8 digits"):
            dutch_kvk_number("123")

    def it_checks_belgian_vat_like_the_enterprise_number(self) -> None:
        assert vat_number("BE0403.170.701", "BE") == "BE0403170701"
        with pytest.raises(ValueError):
            vat_number("BE0403170702", "BE")

    def it_checks_the_dutch_vat_format(self) -> None:
        assert vat_number("NL812345678B01", "NL") == "NL812345678B01"
        with pytest.raises(ValueError, match="NLxxxxxxxxxB01"):
            vat_number("NL8123", "NL")
