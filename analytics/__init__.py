"""Funnel analytics: the reports a head of sales opens every morning (see docs/analytics.md)."""
