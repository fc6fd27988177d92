"""Money (金额): kept as integer fen (分) everywhere it is stored, shown in 元 or 万元. The
conversions out of fen, once, exact (Decimal, never float)."""

from __future__ import annotations

from decimal import Decimal

FEN_PER_YUAN = 100
FEN_PER_WAN_YUAN = 1_000_000


def yuan(fen: int | str | Decimal | None) -> Decimal | None:
    """Fen as yuan with two decimals (Parquet's decimal(18, 2), the views' 元)."""
    return None if fen is None else Decimal(fen).scaleb(-2)


def wan_yuan(fen: int | str | Decimal | None) -> Decimal | None:
    """Fen as 万元, as the forms print money."""
    return None if fen is None else Decimal(fen) / FEN_PER_WAN_YUAN
