"""Loopback fakes of the Google Cloud APIs the Cloud Run runtime calls, and their tests."""
