"""Pure pricing domain: GS1 codes, variable-measure items, money and promotions.

Nothing here does I/O (except ``promotion_files`` reading one file) or imports a
framework, so the rules that decide what a shopper pays are tested with plain values.
"""

from __future__ import annotations
