"""Appraisal of staff and vendors (绩效考核): scorecards, metrics, cycles and results."""
