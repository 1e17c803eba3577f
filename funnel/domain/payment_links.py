"""The link a client follows to pay an invoice, built from the payment system's URL template.

``FUNNEL_PAYMENT_URL_TEMPLATE`` is a URL with placeholders, e.g.
``https://pay.example/{invoice_id}?amount={amount}&currency={currency}``. It is checked once,
when the worker starts: a placeholder misspelt there would otherwise send every client a
link the payment system cannot match to an invoice.
"""

from __future__ import annotations

import string
from decimal import Decimal
from urllib.parse import quote, urlsplit

PLACEHOLDERS = ("invoice_id", "amount", "currency", "deal_id")
_SAMPLE = {"invoice_id": "D-1001-4", "amount": "100000.00", "currency": "RUB", "deal_id": "D-1001"}


class PaymentLinkProblem(ValueError):
    """The URL template cannot make a payment link."""


def link_template_problem(template: str) -> str | None:
    """What is wrong with a payment URL template, or None."""
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        return f"{exc} (write a literal brace as {{{{ or }}}}; placeholders: {known})"
    named: set[str] = set()
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            return f"unknown placeholder {{{name}}} (known: {known})"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format or conversion (known: {known})"
        named.add(name)
    if "invoice_id" not in named:
        return "it must name {invoice_id}: the payment system matches the payment by it"
    url = urlsplit(template.format(**_SAMPLE))
    if url.scheme not in ("http", "https") or not url.hostname:
        return "it must be an http:// or https:// URL with a host"
    return None


def payment_link(
    template: str, *, invoice_id: str, amount: Decimal, currency: str, deal_id: str
) -> str:
    """The link for one invoice; each value is percent-encoded where it lands."""
    if (problem := link_template_problem(template)) is not None:
        raise PaymentLinkProblem(problem)
    values = {
        "invoice_id": invoice_id,
        "amount": f"{amount:.2f}",
        "currency": currency,
        "deal_id": deal_id,
    }
    return template.format(**{k: quote(v, safe="") for k, v in values.items()})
