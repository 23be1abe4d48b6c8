"""The ledger's accounts. Every report is derived from postings to these.

Amounts are signed integer fen: a debit is positive, a credit negative, so every
entry sums to zero and so does the whole journal (the trial balance).
"""

from __future__ import annotations

import enum

__all__ = ["DEBIT_NORMAL", "Account", "EntryKind"]


class Account(enum.StrEnum):
    RECEIVABLE = "receivable"  # 应收: per unit, fee item and billing period
    CASH = "cash"  # front-desk cash drawer
    BANK = "bank"  # bank transfers, POS card settlements
    GATEWAY = "gateway"  # clearing per payment gateway (sub = gateway name)
    REVENUE = "revenue"  # per fee item (sub = fee item)
    OWNER_CREDIT = "owner_credit"  # prepayments and overpayments, per unit
    DEPOSITS_HELD = "deposits_held"  # 押金, per unit
    COMPENSATION = "compensation"  # 折抵补偿金 granted against fees
    LATE_FEE_REVENUE = "late_fee_revenue"
    REFUNDS_PAYABLE = "refunds_payable"
    SUSPENSE = "suspense"  # money that arrived for no known order, for a person to resolve


# Accounts whose balance is normally a debit (assets, expenses); the others are credits.
DEBIT_NORMAL = frozenset(
    {Account.RECEIVABLE, Account.CASH, Account.BANK, Account.GATEWAY, Account.COMPENSATION}
)


class EntryKind(enum.StrEnum):
    BILL = "bill"
    PAYMENT = "payment"
    CREDIT_APPLIED = "credit_applied"  # owner credit applied to new bills
    REFUND = "refund"
    REFUND_PAID = "refund_paid"  # a provider paid out a refund recorded as payable
    REVERSAL = "reversal"
    COMPENSATION = "compensation"
    DEPOSIT = "deposit"
    DEPOSIT_REFUND = "deposit_refund"
    LATE_FEE = "late_fee"
    WAIVER = "waiver"
    SUSPENSE = "suspense"
