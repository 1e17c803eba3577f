"""Temporal workflows of the sales funnel."""

from workflows.deal import DealWorkflow

__all__ = ["DealWorkflow"]
