"""`.env` values written as keyvault:<secret> are read at load time, in memory, and never shown.

The vault reader is replaced by a dictionary here: the Key Vault SDK refuses bearer tokens over plain
HTTP and there is no local Key Vault, so the read itself is verified only against a real vault.
"""
from __future__ import annotations

import logging

import pytest

from scripts import key_vault
from scripts.settings import ConfigError, load_settings

VAULT = "https://sndtrkdevkv.vault.azure.net"
SECRETS = {"tmdb-api-token": "eyJhbGciOiJIUzI1NiJ9.vault-held-token", "discogs-token": "discogs-vault-token-123"}


@pytest.fixture()
def vault(monkeypatch):
    asked = []

    def reader(url):
        assert url == VAULT

        def read(name):
            asked.append(name)
            if name not in SECRETS:
                raise RuntimeError(f"SecretNotFound {name}")
            return SECRETS[name]
        return read

    monkeypatch.setattr(key_vault, "_vault_reader", reader)
    return asked


def test_references_are_resolved_in_memory_and_masked(vault, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"AZURE_KEY_VAULT_URL={VAULT}\nTMDB_API_TOKEN=keyvault:tmdb-api-token\n"
                      "DISCOGS_TOKEN=keyvault:discogs-token\n", encoding="utf-8")
    settings = load_settings({}, dotenv_path=dotenv)
    assert settings.tmdb_api_token == SECRETS["tmdb-api-token"] and settings.discogs_token == SECRETS["discogs-token"]
    assert sorted(vault) == ["discogs-token", "tmdb-api-token"]
    shown = repr(settings) + str(settings.describe()) + caplog.text
    assert all(value not in shown for value in SECRETS.values())
    assert "keyvault:" in dotenv.read_text() and SECRETS["tmdb-api-token"] not in dotenv.read_text()


def test_plain_values_need_no_vault(vault, tmp_path):
    settings = load_settings({"TMDB_API_TOKEN": "plain-token-value"}, dotenv_path=tmp_path / "none")
    assert settings.tmdb_api_token == "plain-token-value" and vault == []


@pytest.mark.parametrize("env, message", [
    ({"TMDB_API_TOKEN": "keyvault:tmdb-api-token"}, "AZURE_KEY_VAULT_URL is not set"),
    ({"AZURE_KEY_VAULT_URL": VAULT, "TMDB_API_TOKEN": "keyvault:bad name!"}, "not a Key Vault secret name"),
    ({"AZURE_KEY_VAULT_URL": VAULT, "DISCOGS_TOKEN": "keyvault:missing"}, "cannot read secret 'missing'"),
    ({"AZURE_KEY_VAULT_URL": "https://evil.example.com", "DISCOGS_TOKEN": "keyvault:discogs-token"},
     "AZURE_KEY_VAULT_URL"),
])
def test_bad_references_are_one_clear_configuration_error(vault, tmp_path, env, message):
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings(env, dotenv_path=tmp_path / "none")
    assert all(value not in str(raised.value) for value in SECRETS.values())
