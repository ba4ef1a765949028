"""Secrets referenced from Azure Key Vault instead of written into `.env`.

A `.env` value `keyvault:<secret-name>` (for TMDB_API_TOKEN, TMDB_API_KEY, DISCOGS_TOKEN and the
AZURE_STORAGE_* secrets) is replaced at load time by the secret's current value, read from the vault
AZURE_KEY_VAULT_URL names with `DefaultAzureCredential` (on the VM: its managed identity, which
main.bicep gives the Key Vault Secrets User role). The value lives in memory only: nothing writes it
to disk, and errors name the variable and the secret, never a value.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)

PREFIX = "keyvault:"
REFERABLE = ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN", "AZURE_STORAGE_SAS_TOKEN",
             "AZURE_STORAGE_CONNECTION_STRING")
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
# Checked before any token is asked for: a credential is only ever presented to a real vault host.
VAULT_URL = re.compile(r"^https://[a-z0-9-]{3,24}\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net)/?$")


def references(env: Mapping[str, str]) -> dict[str, str]:
    """Variable -> secret name, for the values written as `keyvault:<name>`."""
    return {name: env[name][len(PREFIX):].strip() for name in REFERABLE if (env.get(name) or "").startswith(PREFIX)}


def _vault_reader(vault_url: str) -> Callable[[str], str]:
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(vault_url, DefaultAzureCredential(exclude_interactive_browser_credential=True))
    return lambda name: client.get_secret(name).value


def resolve(env: Mapping[str, str], read: Callable[[str], str] | None = None) -> dict[str, str]:
    """`env` with every `keyvault:` reference replaced by the secret's value.

    Raises:
        ValueError: a reference is malformed, AZURE_KEY_VAULT_URL is missing, or a secret cannot be
            read (the message names the variable and the secret, never a value).
    """
    refs = references(env)
    if not refs:
        return dict(env)
    vault = env.get("AZURE_KEY_VAULT_URL") or ""
    if not vault:
        raise ValueError(f"{', '.join(sorted(refs))} refer to Key Vault but AZURE_KEY_VAULT_URL is not set in .env")
    if not VAULT_URL.match(vault):
        raise ValueError(f"AZURE_KEY_VAULT_URL={vault!r} is not https://<name>.vault.azure.net: fix it in .env")
    for variable, secret in refs.items():
        if not _SECRET_NAME.match(secret):
            raise ValueError(f"{variable}: {secret!r} is not a Key Vault secret name (letters, digits, hyphens)")
    read = read or _vault_reader(vault)
    resolved = dict(env)
    for variable, secret in sorted(refs.items()):
        try:
            value = read(secret)
        except Exception as exc:  # noqa: BLE001 - any SDK failure becomes one clear configuration error
            raise ValueError(f"{variable}: cannot read secret {secret!r} from {vault} ({type(exc).__name__}); "
                             "check `az login` or the VM identity's Key Vault Secrets User role") from None
        if not value:
            raise ValueError(f"{variable}: secret {secret!r} in {vault} is empty: set it with az keyvault secret set")
        resolved[variable] = value
        logger.info("%s read from Key Vault secret %s", variable, secret)
    return resolved
