"""Public message contract of the city contact hub: versioned pydantic models, data only (no I/O)."""

from contracts.base import CloudEventMeta, Contract, Location, ReporterContact
from contracts.calls import CallLogged, CallOutcome, CallTopic
from contracts.privacy import ErasureReason, ReporterDataErased
from contracts.reports import ReportChannel, ReportFiled
from contracts.spikes import BroadcastChannel, IncidentBroadcast, SpikeDetected, SpikeResolved
from contracts.workorder_progress import WorkOrderEscalated, WorkOrderStatusApplied
from contracts.workorders import WorkOrderIssued, WorkOrderStatus, WorkOrderStatusChanged

ALL_CONTRACTS: tuple[type[Contract], ...] = (
    CallLogged,
    ReportFiled,
    WorkOrderIssued,
    WorkOrderStatusChanged,
    WorkOrderStatusApplied,
    WorkOrderEscalated,
    SpikeDetected,
    SpikeResolved,
    IncidentBroadcast,
    ReporterDataErased,
)

__all__ = [
    "ALL_CONTRACTS",
    "BroadcastChannel",
    "CallLogged",
    "CallOutcome",
    "CallTopic",
    "CloudEventMeta",
    "Contract",
    "ErasureReason",
    "IncidentBroadcast",
    "Location",
    "ReportChannel",
    "ReportFiled",
    "ReporterContact",
    "ReporterDataErased",
    "SpikeDetected",
    "SpikeResolved",
    "WorkOrderEscalated",
    "WorkOrderIssued",
    "WorkOrderStatus",
    "WorkOrderStatusApplied",
    "WorkOrderStatusChanged",
]
