"""Denoiser networks; torch only, knowing nothing about schedules or columns."""
