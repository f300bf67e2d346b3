"""The `aipress` command: tenants as code against a remote control plane (see main.py)."""
