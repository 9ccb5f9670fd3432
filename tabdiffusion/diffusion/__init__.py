"""Noising processes and their reverse steps; torch only, no parameters, no pandas."""
