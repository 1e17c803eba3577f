"""The outbox of external deliveries and the deal documents, in the funnel's database.

Temporal runs an activity at least once. A notice sent to a webhook, an e-mail or Bitrix24
cannot be taken back, so every external delivery is first written here under the UNIQUE
(key, channel, recipient) of the robot run, then sent, then marked ``sent``: a retried or
replayed activity finds the row sent and sends nothing. What is left is the window between
the receiver's answer and the commit of ``sent`` (a worker killed there); for it every
request carries the key (``Idempotency-Key`` header, e-mail ``Message-ID``, Bitrix24 ``TAG``)
so that the receiver can drop the repeat, and ``attempts`` tells a retry that a previous
attempt may have reached the receiver.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Column, Table

from funnel.storage.base import select_columns
from funnel.storage.store import Store
from funnel.storage.tables import ID, JSON, UTCDateTime, metadata

DeliveryStatus = Literal["pending", "sent", "failed"]
DeliveryKind = Literal["notice", "task", "deal", "invoice"]

deliveries = Table(
    "deliveries", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False),  # the robot run: <deal>:<seq>:<robot>
    Column("channel", sa.String(16), nullable=False),
    Column("recipient", sa.String, nullable=False),  # employee id, or "deal" / "task"
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("kind", sa.String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", sa.String(16), nullable=False),
    Column("attempts", sa.Integer, nullable=False, default=0),
    Column("last_error", sa.Text),
    Column("external_id", sa.String),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    sa.UniqueConstraint("key", "channel", "recipient"),
)  # fmt: skip

documents = Table(
    "documents", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", sa.String, nullable=False, unique=True),
    Column("deal_id", sa.String, nullable=False, index=True),
    Column("name", sa.String, nullable=False),
    Column("template", sa.String, nullable=False),
    Column("path", sa.String, nullable=False),
    Column("pdf_path", sa.String),  # a PDF the robot made (before migration 0005)
    Column("sha256", sa.String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("html", sa.Text),  # the document of record (migration 0005)
    Column("pdf", sa.LargeBinary),  # made from the HTML on the first download
    # An invoice's document (migration 0009): which invoice, and when it was cancelled (its
    # HTML has carried the ANNULLED stamp since, and its PDF is made again from it).
    Column("invoice_id", sa.String),
    Column("cancelled_at", UTCDateTime),
)  # fmt: skip


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    channel: str
    recipient: str  # an employee id, "deal" / "task" (Bitrix24), or "client" (an invoice)
    deal_id: str
    kind: DeliveryKind
    payload: dict[str, Any]
    created_at: AwareDatetime


class Delivery(DeliveryIn):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    id: int
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    external_id: str | None
    sent_at: AwareDatetime | None

    @property
    def delivery_key(self) -> str:
        """What receivers dedupe on: one robot run to one person (or one deal/task)."""
        return f"{self.key}:{self.recipient}"


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    deal_id: str
    name: str
    template: str
    path: str
    pdf_path: str | None
    sha256: str
    created_at: AwareDatetime
    invoice_id: str | None = None


class Document(DocumentIn):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    cancelled_at: AwareDatetime | None = None


# Built once (see funnel.storage.store._UPDATE_DEAL): a document is looked up on every render.
_DOCUMENT_BY_KEY = select_columns(documents, Document).where(
    documents.c.key == sa.bindparam("_key")
)


class DeliveryStore:
    """The outbox and the documents, on the engine of a :class:`Store` (same database)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # --- deliveries -----------------------------------------------------------------------

    def enqueue(self, d: DeliveryIn) -> Delivery:
        """The row of this delivery, created pending unless it is there already (then it is
        returned as it is: a payload re-rendered on a retry never replaces the first)."""
        values = {**d.model_dump(), "status": "pending", "attempts": 0}
        with self._store.transaction(write=True) as conn:
            self._store.insert_new(conn, deliveries, values)
        found = self.get(d.key, d.channel, d.recipient)
        assert found is not None
        return found

    def get(self, key: str, channel: str, recipient: str) -> Delivery | None:
        c = deliveries.c
        query = select_columns(deliveries, Delivery).where(
            c.key == key, c.channel == channel, c.recipient == recipient
        )
        with self._store.transaction() as conn:
            row = conn.execute(query).first()
        return None if row is None else Delivery.model_validate(dict(row._mapping))

    def find(self, *, deal_id: str | None = None, status: str | None = None) -> list[Delivery]:
        query = select_columns(deliveries, Delivery)
        if deal_id is not None:
            query = query.where(deliveries.c.deal_id == deal_id)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with self._store.transaction() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id)).all()
        return [Delivery.model_validate(dict(r._mapping)) for r in rows]

    def start_attempt(self, delivery_id: int) -> None:
        # Committed before the request goes out: a retry that sees attempts > 0 knows the
        # receiver may already have the request (see the Bitrix24 task lookup).
        self._set(delivery_id, attempts=deliveries.c.attempts + 1)

    def mark_sent(self, delivery_id: int, external_id: str | None) -> None:
        self._set(
            delivery_id,
            status="sent",
            external_id=external_id,
            sent_at=datetime.now(UTC),
            last_error=None,
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        """Permanently: the receiver refused it (4xx) or we gave up."""
        self._set(delivery_id, status="failed", last_error=error)

    def note_error(self, delivery_id: int, error: str) -> None:
        """A transient failure: stays pending, to be tried again."""
        self._set(delivery_id, last_error=error)

    def _set(self, delivery_id: int, **values: Any) -> None:
        stmt = sa.update(deliveries).where(deliveries.c.id == delivery_id).values(**values)
        with self._store.transaction(write=True) as conn:
            conn.execute(stmt)

    # --- documents ------------------------------------------------------------------------

    def add_document(self, d: DocumentIn, html: str | None) -> bool:
        with self._store.transaction(write=True) as conn:
            return self._store.insert_new(conn, documents, {**d.model_dump(), "html": html})

    def get_document(self, key: str) -> Document | None:
        with self._store.transaction() as conn:
            row = conn.execute(_DOCUMENT_BY_KEY, {"_key": key}).first()
        return None if row is None else Document.model_validate(dict(row._mapping))

    def document_content(self, key: str) -> tuple[str | None, bytes | None]:
        """The document's HTML and its PDF (None: not made yet, or a document from before
        migration 0005, whose HTML is only in its file)."""
        c = documents.c
        with self._store.transaction() as conn:
            row = conn.execute(sa.select(c.html, c.pdf).where(c.key == key)).first()
        return (None, None) if row is None else (row.html, row.pdf)

    def keep_pdf(self, key: str, pdf: bytes) -> bytes:
        """Keep the PDF made from the document's HTML, unless one is kept already (two first
        downloads at once): returns the PDF every download gets from now on."""
        c = documents.c
        with self._store.transaction(write=True) as conn:
            conn.execute(sa.update(documents).where(c.key == key, c.pdf.is_(None)).values(pdf=pdf))
            kept: bytes = conn.execute(sa.select(c.pdf).where(c.key == key)).scalar_one()
        return kept

    def annul_invoice_documents(
        self, deal_id: str, invoice_ids: Sequence[str], stamp: Callable[[str], str], at: datetime
    ) -> list[tuple[str, str]]:
        """Stamp the documents of cancelled invoices (``stamp`` turns the issued HTML into
        the annulled one) and drop their PDFs, to be made again from the stamped HTML.
        Returns (file path, stamped HTML) of each document stamped now: a retry stamps
        nothing twice."""
        c = documents.c
        stamped: list[tuple[str, str]] = []
        with self._store.transaction(write=True) as conn:
            rows = conn.execute(
                sa.select(c.id, c.path, c.html).where(
                    c.deal_id == deal_id,
                    c.invoice_id.in_(list(invoice_ids)),
                    c.cancelled_at.is_(None),
                    c.html.is_not(None),
                )
            ).all()
            for row in rows:
                html = stamp(row.html)
                sha = hashlib.sha256(html.encode("utf-8")).hexdigest()
                conn.execute(
                    sa.update(documents)
                    .where(c.id == row.id)
                    .values(html=html, sha256=sha, pdf=None, cancelled_at=at)
                )
                stamped.append((row.path, html))
        return stamped

    def documents(self, deal_id: str) -> list[Document]:
        query = select_columns(documents, Document).where(documents.c.deal_id == deal_id)
        with self._store.transaction() as conn:
            rows = conn.execute(query.order_by(documents.c.created_at, documents.c.id)).all()
        return [Document.model_validate(dict(r._mapping)) for r in rows]
