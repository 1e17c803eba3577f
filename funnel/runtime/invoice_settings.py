"""Settings of the invoices sent to clients (see docs/integrations.md): the company's
requisites file ``FUNNEL_COMPANY`` (default ``company.yaml`` in the project) and the payment
link ``FUNNEL_PAYMENT_URL_TEMPLATE`` (unset: invoices carry no link).

Both are read and checked when the worker (or ``funnel up``) starts, so a typo in an INN or
a placeholder stops the start with the file, field and problem named, instead of reaching
clients on invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from funnel.domain.payment_links import link_template_problem
from funnel.domain.requisites import Company
from funnel.runtime.settings import PROJECT
from funnel.storage.yaml_files import YamlFileError, read_yaml

DEFAULT_COMPANY = PROJECT / "company.yaml"


class InvoiceSetupError(ValueError):
    """The invoice settings cannot be used: the message names the setting and the problem."""


class InvoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FUNNEL_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    company: Path = Field(
        default=DEFAULT_COMPANY, description="YAML file with the requisites invoices print"
    )
    payment_url_template: str | None = Field(
        default=None,
        description="payment link, e.g. https://pay.example/{invoice_id}?amount={amount}"
        "&currency={currency}; unset: invoices carry no link",
    )


@dataclass(frozen=True)
class InvoiceSetup:
    company: Company
    payment_url_template: str | None


def load_company(path: Path) -> Company:
    try:
        return Company.model_validate(read_yaml(path))
    except YamlFileError as exc:
        raise InvoiceSetupError(f"FUNNEL_COMPANY {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e['loc'])}: {_message(e)}" for e in exc.errors())
        raise InvoiceSetupError(f"FUNNEL_COMPANY {path}: {problems}") from exc


def load_invoice_setup(settings: InvoiceSettings | None = None) -> InvoiceSetup:
    """The company's requisites and the payment link template, checked."""
    settings = settings or InvoiceSettings()
    template = settings.payment_url_template
    if template is not None and (problem := link_template_problem(template)) is not None:
        raise InvoiceSetupError(f"FUNNEL_PAYMENT_URL_TEMPLATE {template!r}: {problem}")
    return InvoiceSetup(load_company(settings.company), template)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(the file)"


def _message(error: Any) -> str:
    # pydantic prefixes the text of a validator's ValueError with "Value error, ".
    return str(error["msg"]).removeprefix("Value error, ")
