"""Tests of the pure translation layer."""
