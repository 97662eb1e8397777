import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.money import commission_split, fen_allocate, fen_display, fen_share


def test_commission_split_matches_the_worked_example_of_design_md():
    split = commission_split(
        sale_fen=1_990, commission_bps=1_000, member_share_bps=3_000, owner_share_bps=6_000
    )

    assert (
        split.commission_fen,
        split.member_rebate_fen,
        split.owner_commission_fen,
        split.platform_fen,
    ) == (
        199,
        59,
        119,
        21,
    )


def test_fen_share_rounds_down_so_the_payer_keeps_the_remainder():
    assert fen_share(999, 3_333) == 332  # 332.9667 → 332
    assert fen_share(1, 9_999) == 0


@pytest.mark.parametrize(("amount", "rate"), [(-1, 100), (100, -1), (100, 10_001)])
def test_fen_share_refuses_nonsense(amount, rate):
    with pytest.raises(ValueError):  # noqa: PT011
        fen_share(amount, rate)


@given(
    sale=st.integers(min_value=0, max_value=10**12),
    rate=st.integers(min_value=0, max_value=10_000),
    member=st.integers(min_value=0, max_value=10_000),
)
def test_commission_split_is_exact_and_never_pays_out_more_than_the_commission(sale, rate, member):
    owner = 10_000 - member
    split = commission_split(
        sale_fen=sale, commission_bps=rate, member_share_bps=member, owner_share_bps=owner
    )
    assert split.member_rebate_fen + split.owner_commission_fen + split.platform_fen == split.commission_fen
    assert split.commission_fen <= sale
    assert split.platform_fen >= 0


@given(total=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_fen_allocate_sums_to_the_total(total, weights):
    parts = fen_allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)


def test_fen_allocate_gives_the_remainder_to_the_last_part():
    assert fen_allocate(100, [1, 1, 1]) == [33, 33, 34]


def test_fen_display_for_humans():
    assert fen_display(199) == "¥1.99"
    assert fen_display(-5) == "-¥0.05"
    assert fen_display(200_000) == "¥2000.00"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("19.9", 1_990), ("19.90", 1_990), ("20", 2_000), ("¥0.05", 5), (" 1,234.5 ", 123_450), ("0", 0)],
)
def test_fen_parse_yuan_reads_what_people_type_exactly(text, fen):
    from shop.money import fen_parse_yuan

    assert fen_parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["19.999", "-1", "+1", "1e3", "", ".", "1.2.3", "１２", "abc", "1 000"])
def test_fen_parse_yuan_refuses_anything_it_would_have_to_round_or_guess(text):
    from shop.money import fen_parse_yuan

    with pytest.raises(ValueError, match="yuan"):
        fen_parse_yuan(text)
