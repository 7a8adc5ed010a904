"""Tests that cause production faults for real and check what the service does."""
