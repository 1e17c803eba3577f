"""Temporal activities: the robots' side effects and the working-time arithmetic."""
