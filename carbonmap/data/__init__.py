"""Packaged data tables (coefficients, code systems), read only through loader functions."""
