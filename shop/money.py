"""Every amount is an int number of fen; every rate is int basis points.

This is the only module that rounds money. Pay-outs to people round down; the
remainder stays with the payer (docs/design.md "Money").
"""

from __future__ import annotations

from dataclasses import dataclass

BPS_WHOLE = 10_000  # 100.00 %


def fen_share(amount_fen: int, rate_bps: int) -> int:
    """Part of ``amount_fen`` that ``rate_bps`` gives to a payee, rounded down."""
    if amount_fen < 0:
        raise ValueError(f"amount_fen must be >= 0, got {amount_fen}")
    if not 0 <= rate_bps <= BPS_WHOLE:
        raise ValueError(f"rate_bps must be within 0..{BPS_WHOLE}, got {rate_bps}")
    return amount_fen * rate_bps // BPS_WHOLE


def fen_display(amount_fen: int) -> str:
    """Human text for admin and messages, e.g. ``¥19.90``. Never parse it back."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}¥{yuan}.{fen:02d}"


def fen_parse_yuan(text: str) -> int:
    """Fen from what a person typed in yuan (``"19.9"``, ``"¥19.90"``, ``"20"``): exact, never
    rounded — more than two decimals, a sign or anything else is a ``ValueError``."""
    cleaned = str(text).strip().lstrip("¥￥").strip().replace(",", "")
    yuan, dot, fen = cleaned.partition(".")
    if not yuan.isascii() or not yuan.isdigit() or len(yuan) > 12:
        raise ValueError(f"not an amount in yuan: {text!r}")
    if dot and (not fen.isascii() or not fen.isdigit() or len(fen) > 2):
        raise ValueError(f"not an amount in yuan with at most two decimals: {text!r}")
    return int(yuan) * 100 + int((fen or "0").ljust(2, "0"))


def fen_pro_rata(amount_fen: int, part: int, whole: int) -> int:
    """``amount_fen × part / whole``, rounded down: the share of ``amount_fen`` that goes
    with ``part`` of ``whole`` (e.g. the coupon share of a partial refund).

    Callers compute it on running totals (the share of everything refunded so far,
    minus what was already taken) so repeated partial refunds never drift and a full
    refund takes exactly ``amount_fen``.
    """
    if amount_fen < 0 or part < 0 or whole <= 0 or part > whole:
        raise ValueError(f"need amount >= 0 and 0 <= part <= whole > 0, got {amount_fen}, {part}, {whole}")
    return amount_fen * part // whole


def fen_allocate(total_fen: int, weights: list[int]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights``, rounding each part down;
    the last part takes the remainder, so the parts always sum to the total.

    Used where a platform amount spans several orders (a coupon over a
    multi-merchant checkout).
    """
    if total_fen < 0 or any(w < 0 for w in weights):
        raise ValueError("amounts and weights must be >= 0")
    if not weights:
        raise ValueError("at least one weight is needed")
    whole = sum(weights)
    if whole == 0:
        return [0] * (len(weights) - 1) + [total_fen]
    parts = [total_fen * w // whole for w in weights[:-1]]
    parts.append(total_fen - sum(parts))
    return parts


@dataclass(frozen=True, slots=True)
class CommissionSplit:
    """How one order item's commission is shared (docs/design.md worked example)."""

    commission_fen: int
    member_rebate_fen: int
    owner_commission_fen: int
    platform_fen: int


def commission_split(
    *, sale_fen: int, commission_bps: int, member_share_bps: int, owner_share_bps: int
) -> CommissionSplit:
    """Commission = floor(sale x rate); member and owner shares of it rounded down;
    the platform keeps the rest. 1,990 fen at 1,000 bps with 3,000/6,000 bps shares
    gives 199 = 59 + 119 + 21.
    """
    if member_share_bps + owner_share_bps > BPS_WHOLE:
        raise ValueError("member and owner shares exceed the whole commission")
    commission = fen_share(sale_fen, commission_bps)
    member = fen_share(commission, member_share_bps)
    owner = fen_share(commission, owner_share_bps)
    platform = commission - member - owner
    assert member + owner + platform == commission  # noqa: S101 - the split must be exact
    return CommissionSplit(commission, member, owner, platform)
