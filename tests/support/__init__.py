"""Helpers the tests share: real servers and emulators they run against."""
