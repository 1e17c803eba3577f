"""Checks of a reported payment against the invoices the deals issued, shared by the payment
webhook and ``POST /deals/{id}/invoices/{invoice_id}/paid``: a payment that cannot belong
to the deal is refused before anything is sent to it."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException, status

from funnel.storage.intake import IntakeStore


async def check_invoice_of_deal(
    intake: IntakeStore,
    deal_id: str | None,
    invoice_id: str,
    *,
    currency: str | None,
    prepayment: bool,
) -> str:
    """The deal the payment applies to (``deal_id``, or the deal that issued the invoice);
    raises 4xx naming what is wrong: an invoice of another deal (409), an invoice no deal
    issued and not marked as a prepayment (404), another currency (422)."""
    owners = await asyncio.to_thread(intake.deals_of_invoice, invoice_id)
    if deal_id is None:
        if not owners:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"no deal issued invoice {invoice_id!r}; send its deal_id with the payment",
            )
        if len(owners) > 1:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"invoice {invoice_id!r} belongs to several deals"
                f" ({', '.join(sorted(owners))}); send deal_id with the payment",
            )
        [deal_id] = owners
    if deal_id not in owners:
        if owners:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"invoice {invoice_id!r} belongs to deal {', '.join(sorted(owners))},"
                f" not to deal {deal_id}: nothing was changed",
            )
        if not prepayment:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"deal {deal_id} has not issued invoice {invoice_id!r}: nothing was"
                " changed (a payment made before its invoice is sent with"
                ' "prepayment": true)',
            )
        return deal_id
    issued_in = owners[deal_id]
    if currency is not None and currency != issued_in:
        raise HTTPException(
            422,  # unprocessable: the body is well-formed but names another currency
            detail=f"invoice {invoice_id!r} is in {issued_in}, the payment in {currency}:"
            " nothing was changed",
        )
    return deal_id
