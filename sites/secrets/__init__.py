"""Where a site's secrets are kept: one protocol (base.SecretStore), chosen by SITES_SECRETS."""
