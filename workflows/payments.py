"""A deal's invoices: issuing one (the create_invoice robot) and applying the payments the
`invoice_paid` signal brings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.context import DealContext
from workflows.patches import PATCH_ONE_OPEN_INVOICE, PATCH_PAYMENTS_ADD_UP

with workflow.unsafe.imports_passed_through():
    from funnel.domain.activity_io import (
        ActivityName,
        CreateInvoiceCall,
        InvoicePaidCall,
        RobotContext,
        SendInvoiceCall,
    )
    from funnel.domain.invoices import invoice_document_key
    from funnel.domain.models import (
        DealStatus,
        DocumentView,
        InvoicePaid,
        InvoiceView,
        PaymentView,
    )
    from funnel.domain.payments import PaymentCheck, PaymentKind, check_payment, money
    from funnel.domain.people import Doer
    from funnel.domain.pipeline import SendInvoiceRobot
    from funnel.domain.robot_runs import RobotRun, RunOutcome

_NEW_PAYMENT_RULES = (
    PaymentKind.UNMATCHED,
    PaymentKind.WRONG_CURRENCY,
    PaymentKind.PARTIAL,
    PaymentKind.OVERPAID,
)


class Payments:
    def __init__(self, ctx: DealContext, check_triggers: Callable[[], None]) -> None:
        self._ctx = ctx
        self._check_triggers = check_triggers  # a paid invoice may move the deal on
        self.paid_received_at: datetime | None = None  # for the reaction-time metric

    async def issue_invoice(
        self,
        seq: int,
        key: str,
        context: RobotContext,
        summary: str,
        outcome: RunOutcome,
        invoice_id: str | None = None,
    ) -> RunOutcome:
        """One collectable invoice per deal: coming back to the stage reuses the invoice
        still open for the same amount; for a changed amount that one is cancelled and a new
        one issued. Deals recorded before issued one per entry (PATCH_ONE_OPEN_INVOICE).
        An edit of the amount reissues under an ``invoice_id`` of its own (the visit's id
        may be the open invoice's)."""
        state = self._ctx.state
        amount = state.deal.amount
        currency = state.deal.currency
        still_open = [i for i in state.invoices if i.open and not i.prepayment]
        same = next((i for i in still_open if i.amount == amount and i.currency == currency), None)
        if still_open and not workflow.patched(PATCH_ONE_OPEN_INVOICE):
            still_open, same = [], None
        if same is not None:
            return RunOutcome.REUSED
        invoice_id = invoice_id or f"{state.deal_id}-{seq}"
        now = self._ctx.now()
        # A partly paid invoice is never cancelled: its payments stay with it.
        replaced = [
            i.invoice_id for i in still_open if i.invoice_id != invoice_id and not i.payments
        ]
        if state.invoice(invoice_id) is None:
            # Known to the deal before the store has it, so that a payment arriving while
            # the robot runs is applied to it, not reported as unknown.
            state.invoices.append(
                InvoiceView(
                    invoice_id=invoice_id,
                    amount=amount,
                    currency=currency,
                    received_at=now,
                    replaces=", ".join(replaced) or None,
                )
            )
        await self._ctx.call(
            ActivityName.CREATE_INVOICE,
            CreateInvoiceCall(
                key=key,
                invoice_id=invoice_id,
                context=context,
                at=now,
                replaces=replaced,
                timezone=self._ctx.pipeline.calendar.timezone,
            ),
            None,
            summary=summary,
        )
        for invoice in still_open:
            if invoice.invoice_id in replaced:
                invoice.cancelled_at = now
                invoice.replaced_by = invoice_id
        return outcome

    async def send_invoice(
        self, key: str, context: RobotContext, robot: SendInvoiceRobot, outcome: RunOutcome
    ) -> RunOutcome:
        """Render the deal's open invoice and e-mail it to the client (the send_invoice
        robot). Nothing to send when every invoice is paid, cancelled or a prepayment."""
        state = self._ctx.state
        invoice = next((i for i in reversed(state.invoices) if i.open and not i.prepayment), None)
        if invoice is None:
            return RunOutcome.SKIPPED_NO_INVOICE
        call = SendInvoiceCall(
            key=key,
            context=context,
            invoice_id=invoice.invoice_id,
            template=robot.template,
            name=robot.document_name,
            subject=robot.subject,
            message=robot.message,
            timezone=self._ctx.pipeline.calendar.timezone,
            at=self._ctx.now(),
        )
        document = await self._ctx.call(
            ActivityName.SEND_INVOICE, call, DocumentView, summary=robot.title
        )
        state.keep_document(document)
        return outcome

    async def send_reissued(self, key: str, context: RobotContext, replaced: list[str]) -> None:
        """An edit reissued the invoice: the client, who has the old one, gets the new one,
        sent as the pipeline's send_invoice robot sends (the current stage's, else the
        first). Only when an old one was sent: a deal whose invoice never went out stays so."""
        state, pipeline = self._ctx.state, self._ctx.pipeline
        sent = {d.key for d in state.documents}
        if not any(invoice_document_key(state.deal_id, i) in sent for i in replaced):
            return
        robots = [
            r
            for stage in [self._ctx.current_stage(), *pipeline.stages]
            for r in stage.robots
            if isinstance(r, SendInvoiceRobot)
        ]
        if not robots:
            return
        try:
            await self.send_invoice(key, context, robots[0], RunOutcome.DONE)
        except ActivityError as err:
            # The edit stands; the robot's failure (no e-mail address, refused) is shown.
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            state.robot_runs.append(
                RobotRun(
                    seq=state.seq,
                    stage=state.stage,
                    robot_id=robots[0].id,
                    outcome=RunOutcome.FAILED,
                    at=self._ctx.now(),
                    error=cause,
                )
            )

    async def invoice_paid(self, input: InvoicePaid) -> None:
        """Apply a payment, report one that does not simply pay an invoice."""
        ctx, state = self._ctx, self._ctx.state
        invoice = state.invoice(input.invoice_id)
        check = check_payment(invoice, input)
        kind = check.kind
        if kind is PaymentKind.DUPLICATE:
            return  # a duplicate delivery changes nothing
        if kind in _NEW_PAYMENT_RULES and not workflow.patched(PATCH_PAYMENTS_ADD_UP):
            await self._legacy_invoice_paid(input)  # how deals recorded before ran it
            return
        if state.status is not DealStatus.OPEN:
            workflow.logger.warning("invoice %s paid after the deal closed", input.invoice_id)
        now = ctx.now()
        if kind in (PaymentKind.UNMATCHED, PaymentKind.WRONG_CURRENCY):
            await self._report_payment(input, kind, check)
            return
        if invoice is None:  # a prepayment: the invoice is known from now on
            invoice = InvoiceView(
                invoice_id=input.invoice_id,
                amount=input.amount,
                currency=input.currency,
                received_at=now,
                prepayment=True,
            )
            state.invoices.append(invoice)
        paid_at = input.paid_at or now
        by = Doer.of(input.actor)
        invoice.payments.append(
            PaymentView(
                payment_id=input.implied_payment_id,
                amount=check.amount,
                currency=input.currency or invoice.currency,
                paid_at=paid_at,
                received_at=now,
                by=by.id,
                via=by.via,
                by_kind=by.kind,
            )
        )
        if kind is not PaymentKind.PARTIAL and invoice.paid_at is None:
            invoice.paid_at = paid_at
            self.paid_received_at = now
            self._check_triggers()
        await self._record_payment(input, check.amount, paid_at)
        if kind in (PaymentKind.PARTIAL, PaymentKind.OVERPAID):
            await self._report_payment(input, kind, check)

    async def _record_payment(self, input: InvoicePaid, amount: Decimal, paid_at: datetime) -> None:
        await self._ctx.call(
            ActivityName.RECORD_INVOICE_PAID,
            InvoicePaidCall(
                deal_id=self._ctx.state.deal_id,
                invoice_id=input.invoice_id,
                amount=amount,
                paid_at=paid_at,
                payment_id=input.implied_payment_id,
                currency=input.currency,
            ),
            None,
            summary=f"Record a payment of invoice {input.invoice_id}",
        )

    async def _report_payment(
        self, input: InvoicePaid, kind: PaymentKind, check: PaymentCheck
    ) -> None:
        """Tell the responsible about a payment that does not simply pay an invoice, and
        write it to the report."""
        ctx, state = self._ctx, self._ctx.state
        invoice = state.invoice(input.invoice_id)
        amount = money(check.amount if input.amount is None else input.amount, input.currency)
        due = money(invoice.amount, invoice.currency) if invoice else "?"
        text = {
            PaymentKind.PARTIAL: f"{money(check.total)} of {due} paid for invoice"
            f" {input.invoice_id} ({money(invoice.outstanding if invoice else None)}"
            " outstanding)",
            PaymentKind.OVERPAID: f"invoice {input.invoice_id} is overpaid: {money(check.total)}"
            f" received for {due}",
            PaymentKind.UNMATCHED: f"a payment of {amount} names invoice {input.invoice_id},"
            " which this deal never issued: it was not applied",
            PaymentKind.WRONG_CURRENCY: f"a payment of {amount} for invoice {input.invoice_id}"
            f" ({due}) is in another currency: it was not applied",
        }[kind]
        key = f"{state.deal_id}:payment:{input.implied_payment_id}"
        stage = ctx.current_stage()
        with ctx.working():
            try:
                await ctx.notify(
                    key,
                    stage,
                    [state.deal.responsible],
                    f"{state.deal_id}: {text}",
                    f"Tell the responsible: payment {kind.value}",
                )
                await ctx.write_report(
                    f"{key}:report",
                    stage,
                    f"payment_{kind.value}",
                    input.invoice_id,
                    f"Write the {kind.value} payment to the report",
                    extra={"text": text, "amount": str(check.amount), "total": str(check.total)},
                )
            except ActivityError as err:
                workflow.logger.warning("payment report failed: %s", err)

    async def _legacy_invoice_paid(self, input: InvoicePaid) -> None:
        """Before PATCH_PAYMENTS_ADD_UP any payment paid its invoice in full, and a payment
        naming an unknown invoice created it."""
        ctx, state = self._ctx, self._ctx.state
        existing = state.invoice(input.invoice_id)
        if existing is not None and existing.paid_at is not None:
            return
        paid_at = input.paid_at or ctx.now()
        self.paid_received_at = ctx.now()
        if existing is None:
            existing = InvoiceView(
                invoice_id=input.invoice_id, amount=input.amount, received_at=ctx.now()
            )
            state.invoices.append(existing)
        existing.paid_at = paid_at
        if input.amount is not None:
            existing.amount = input.amount
        self._check_triggers()
        await self._record_payment(input, input.amount or existing.amount or Decimal(0), paid_at)
