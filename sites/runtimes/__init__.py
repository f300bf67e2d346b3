"""Where sites run: one protocol (base.Runtime), a driver per place (local; Cloud Run comes next),
chosen by SITES_RUNTIME through the kernel's driver loader (sites.drivers)."""
