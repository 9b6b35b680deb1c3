"""CRLM Cohort Explorer: cohort, models, survival and case scoring for a CRLM tumour board."""
__version__ = "0.1.0"
