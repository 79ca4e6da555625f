"""Public message contract of the city contact hub: versioned pydantic models, data only (no I/O)."""

from contracts.base import CloudEventMeta, Contract, Location, ReporterContact
from contracts.calls import CallLogged, CallOutcome, CallTopic
from contracts.privacy import ErasureReason, ReporterDataErased
from contracts.reports import ReportChannel, ReportFiled
from contracts.spikes import BroadcastChannel, IncidentBroadcast, SpikeDetected, SpikeResolved
from contracts.workorder_progress import WorkOrderEscalated, WorkOrderStatusApplied
from contracts.workorders import (
    IncidentAddress,
    IncidentOrderDetails,
    IncidentOrderUpdated,
    IncidentStreet,
    RecordedStatus,
    WorkOrderIssued,
    WorkOrderStatus,
    WorkOrderStatusChanged,
)

ALL_CONTRACTS: tuple[type[Contract], ...] = (
    CallLogged,
    ReportFiled,
    WorkOrderIssued,
    IncidentOrderUpdated,
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
    "IncidentAddress",
    "IncidentBroadcast",
    "IncidentOrderDetails",
    "IncidentOrderUpdated",
    "IncidentStreet",
    "Location",
    "RecordedStatus",
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
