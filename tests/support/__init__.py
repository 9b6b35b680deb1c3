"""Helpers and data builders shared by test modules (no tests here): a test module
imports these, never another test module."""
