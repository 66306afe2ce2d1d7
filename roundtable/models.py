"""Models for this lane arrive with its issue."""
