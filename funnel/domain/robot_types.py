"""The robot types a stage runs: what every robot has (:class:`RobotBase`) and one model per
``type``, joined in the :data:`Robot` union the pipeline schema uses. Kept apart from
:mod:`funnel.domain.pipeline` (which re-exports them) so that each stays one concern."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from funnel.domain.channels import Channel
from funnel.domain.durations import Duration
from funnel.domain.repeats import Repeat
from funnel.domain.robot_rules import Condition, OnLeave, OnReentry, OnSkip, Start, Timing

ID_PATTERN = r"^[a-z][a-z0-9_]*$"

# People are addressed by role or by employee id. Roles resolve against the deal.
ROLE_RESPONSIBLE = "responsible"
ROLE_HEAD = "head"
ROLE_SALES_TEAM = "sales_team"
ROLES = (ROLE_RESPONSIBLE, ROLE_HEAD, ROLE_SALES_TEAM)

# A name in the languages of the people who read it (the workspace shows a Russian board to
# Russian-speaking employees): language code -> text; the plain name is the fallback.
Translations = dict[str, str]
TRANSLATIONS = "the same in other languages, e.g. {ru: ...}; the workspace shows each person's"


class RobotBase(Timing):
    """What every robot has: identity, timing (from :class:`Timing`), a condition checked
    when it is due, and its policies (defaults as in Bitrix24)."""

    id: str = Field(pattern=ID_PATTERN, description="unique within the stage")
    title: str = Field(min_length=1, description="plain-language summary shown in the Web UI")
    titles: Translations = Field(default_factory=dict, description=TRANSLATIONS)
    start: Start = Start.AFTER_PREVIOUS
    condition: Condition | None = None
    on_reentry: OnReentry = OnReentry.EVERY_ENTRY
    on_leave: OnLeave = OnLeave.CANCEL
    on_skip: OnSkip = OnSkip.IGNORE
    repeat: Repeat | None = Field(
        default=None, description="run again every so much working time until something happens"
    )

    def title_in(self, language: str) -> str:
        return self.titles.get(language) or self.title


class SetTitleRobot(RobotBase):
    """Give the deal a title rendered from a jinja2 template (also used to rename it)."""

    type: Literal["set_title"]
    template: str = Field(min_length=1)


class NotifyRobot(RobotBase):
    type: Literal["notify"]
    to: list[str] = Field(min_length=1, description="roles or employee ids")
    message: str = Field(min_length=1, description="jinja2 template")
    channels: list[Channel] | None = Field(
        default=None, description="override each person's channels from the directory"
    )


class CreateTaskRobot(RobotBase):
    type: Literal["create_task"]
    task_title: str = Field(min_length=1, description="jinja2 template")
    description: str = Field(default="", description="jinja2 template")
    deadline: Duration | None = None
    responsible: str = ROLE_RESPONSIBLE
    co_executors: list[str] = Field(default_factory=list)
    created_by: str = ROLE_RESPONSIBLE
    needs_confirmation: bool = Field(
        default=False, description="closing needs the creator's confirmation"
    )


class ReportEventRobot(RobotBase):
    type: Literal["report_event"]
    kind: str = Field(pattern=ID_PATTERN)
    details: str = Field(default="", description="jinja2 template")


class CreateInvoiceRobot(RobotBase):
    """Issue an invoice for the deal amount; its id is ``<deal id>-<stage entry number>``."""

    type: Literal["create_invoice"]


class RenderDocumentRobot(RobotBase):
    """Render a document (commercial proposal, contract) from templates/documents/ and keep
    it with the deal."""

    type: Literal["render_document"]
    template: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="file name")
    document_name: str = Field(min_length=1)


INVOICE_SUBJECT = "Счёт № {{ invoice.number }} от {{ invoice.short_date }}"
INVOICE_MESSAGE = """Здравствуйте, {{ contact.name }}!

Направляем счёт № {{ invoice.number }} от {{ invoice.date }} на сумму \
{{ invoice.amount_figures }} {{ invoice.currency }} ({{ invoice.amount_words }}).
{% if invoice.replaces %}Он заменяет счёт № {{ invoice.replaces }}, который аннулирован.
{% endif %}{% if invoice.payment_url %}
Оплатить онлайн: {{ invoice.payment_url }}
{% endif %}
Счёт во вложении (PDF и HTML).

{{ company.name }}"""


class SendInvoiceRobot(RobotBase):
    """Render the deal's open invoice from templates/documents/ with the company's
    requisites and e-mail it to the deal's contact with a payment link. Once per invoice:
    coming back to the stage with the same invoice sends nothing again."""

    type: Literal["send_invoice"]
    template: str = Field(
        default="invoice.html.j2", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="file"
    )
    document_name: str = Field(default="Счёт на оплату", min_length=1)
    subject: str = Field(default=INVOICE_SUBJECT, min_length=1, description="jinja2 template")
    message: str = Field(default=INVOICE_MESSAGE, min_length=1, description="jinja2 template")


class CompleteDealRobot(RobotBase):
    """Close the deal record as won or lost (the outcome follows the stage's semantics)."""

    type: Literal["complete_deal"]


class MoveToFunnelRobot(RobotBase):
    """Move the deal to a stage of another pipeline (its current version), as a person's
    ``move-to-funnel`` does: the target stage's robots run. Robots chained below it in the
    stage are cancelled once it moved the deal."""

    type: Literal["move_to_funnel"]
    pipeline: str = Field(pattern=ID_PATTERN, description="the other pipeline's id")
    stage: str = Field(pattern=ID_PATTERN, description="a process stage of that pipeline")


Robot = Annotated[
    SetTitleRobot
    | NotifyRobot
    | CreateTaskRobot
    | ReportEventRobot
    | CreateInvoiceRobot
    | CompleteDealRobot
    | RenderDocumentRobot
    | SendInvoiceRobot
    | MoveToFunnelRobot,
    Field(discriminator="type"),
]
