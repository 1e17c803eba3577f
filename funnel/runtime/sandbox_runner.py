"""The workflow sandbox, without a trip into it for every payload.

For every payload of every activation and completion, temporalio (1.35) asks the workflow
instance which serialization context and external-store context apply: three times on the
way in, three on the way out. The sandboxed instance answers each question by ``exec``-ing
a code string inside the sandbox: CPU spent with the GIL held for every payload, growing
with every payload the deal carries (summaries, robot inputs).

The answers only matter to a converter, codec or external store that reads the context.
Ours do not: the pydantic JSON converter and the AES codec write the same bytes under any
context, and we store no payload externally. For such a data converter this runner's
instances answer without entering the sandbox, with the workflow's own context (what the
SDK answers for every payload that belongs to no command). The workflow code itself still
runs in the sandbox with all its restrictions; ``workflow_runner_for`` hands out the SDK's
own runner for a data converter that does read the context.
"""

from __future__ import annotations

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import Info

# Any context other than the workflow's: a converter that reads contexts answers it with a
# new instance (the SDK's convention: ``with_context`` returns ``self`` when no part of the
# converter takes a context).
_PROBE = ActivitySerializationContext(
    namespace="probe",
    workflow_id="probe",
    workflow_type="probe",
    activity_type="probe",
    activity_id="probe",
    activity_task_queue="probe",
    is_local=False,
)


def reads_context(converter: DataConverter) -> bool:
    """Whether any part of the converter (payload converter, codec, failure converter,
    external storage) could encode or decode differently under another context."""
    return converter.external_storage is not None or converter.with_context(_PROBE) is not converter


class _WorkflowContextInstance(WorkflowInstance):
    """A sandboxed workflow instance that answers the context questions itself."""

    def __init__(self, sandboxed: WorkflowInstance, info: Info) -> None:
        self._sandboxed = sandboxed
        self._context = WorkflowSerializationContext(
            namespace=info.namespace, workflow_id=info.workflow_id
        )
        self._store_context = StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id,
                run_id=info.run_id,
                type=info.workflow_type,
                namespace=info.namespace,
            )
        )

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> SerializationContext | None:
        return self._context

    def get_external_store_context(
        self, command_info: CommandInfo | None
    ) -> StorageDriverStoreContext:
        return self._store_context

    def get_info(self) -> Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        # The deadlock detector reads the stack of the thread running the workflow.
        return self._sandboxed.get_thread_id()


class WorkflowContextSandboxedRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner, whose instances answer the context questions with the
    workflow's context. Only for a data converter that ignores contexts."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _WorkflowContextInstance(super().create_instance(det), det.info)


def workflow_runner_for(converter: DataConverter) -> WorkflowRunner:
    if reads_context(converter):
        return SandboxedWorkflowRunner()
    return WorkflowContextSandboxedRunner()
