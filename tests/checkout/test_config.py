"""Configuration: development defaults that work with no set-up, production refusals."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from checkout.config import Config, parse_data_keys
from checkout.errors import ConfigError

KEY = base64.b64encode(b"\x07" * 32).decode()
PRODUCTION = {"CHECKOUT_ENV": "production", "CHECKOUT_DATA_KEYS": f"k2:{KEY}",
              "CHECKOUT_EMAIL_INDEX_KEY": base64.b64encode(b"\x08" * 32).decode(),
              "CHECKOUT_PAYMENTS": "live", "CHECKOUT_SITE_ORIGIN": "https://www.umegou.com",
              "CHECKOUT_MAIL_URL": "smtp://mailer:pw@smtp.example:587",
              "DATABASE_URL": "postgresql://shop@db/shop"}


def test_development_defaults_generate_secrets_once(tmp_path):
    env = {"CHECKOUT_DATA_DIR": str(tmp_path / "var")}
    first = Config.from_env(env)
    secrets_file = tmp_path / "var" / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert first.secrets_source == "dev-file"
    assert first.database_url == f"sqlite:///{tmp_path / 'var' / 'checkout.db'}"
    assert first.mail_url == f"file://{tmp_path / 'var' / 'mail'}"
    assert first.payments == "sandbox" and first.env == "development"
    again = Config.from_env(env)
    assert again.data_keys == first.data_keys and again.email_index_key == first.email_index_key


def test_production_accepts_proper_settings(tmp_path):
    config = Config.from_env({**PRODUCTION, "CHECKOUT_DATA_DIR": str(tmp_path)})
    assert config.production and config.data_keys[0].id == "k2"
    assert config.public_url == "https://www.umegou.com"


@pytest.mark.parametrize("change, words", [
    ({"CHECKOUT_DATA_KEYS": "", "CHECKOUT_EMAIL_INDEX_KEY": ""}, "development secrets are refused"),
    ({"CHECKOUT_PAYMENTS": "sandbox"}, "sandbox"),
    ({"CHECKOUT_SITE_ORIGIN": "http://www.umegou.com"}, "https"),
    ({"CHECKOUT_MAIL_URL": ""}, "SMTP"),
    ({"CHECKOUT_DATA_KEYS": "k2:bm90IDMyIGJ5dGVz"}, "32 bytes"),
    ({"CHECKOUT_DATA_KEYS": "bad key"}, "id:base64"),
    ({"CHECKOUT_ENV": "staging"}, "not known"),
])
def test_production_refuses(tmp_path, change, words):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({**PRODUCTION, "CHECKOUT_DATA_DIR": str(tmp_path), **change})
    assert words in caught.value.message and "Fix:" in caught.value.message


def test_production_refuses_the_development_keys(tmp_path):
    dev = Config.from_env({"CHECKOUT_DATA_DIR": str(tmp_path)})
    stored = json.loads((tmp_path / "secrets.json").read_text())
    with pytest.raises(ConfigError, match="equal the development keys"):
        Config.from_env({**PRODUCTION, "CHECKOUT_DATA_DIR": str(tmp_path),
                         "CHECKOUT_DATA_KEYS": stored["data_keys"]})
    assert dev.data_keys


def test_key_list_is_newest_first_and_unique():
    keys = parse_data_keys(f"new:{KEY}, old:{base64.b64encode(b'x' * 32).decode()}")
    assert [k.id for k in keys] == ["new", "old"]
    with pytest.raises(ConfigError, match="repeats"):
        parse_data_keys(f"a:{KEY},a:{KEY}")


def test_limits_and_numbers_from_env(tmp_path):
    config = Config.from_env({"CHECKOUT_DATA_DIR": str(tmp_path), "CHECKOUT_REGISTER_LIMIT": "5/60",
                              "CHECKOUT_ARGON2_TIME_COST": "2"})
    assert config.register_limit == (5, 60) and config.argon2_time_cost == 2
    with pytest.raises(ConfigError, match="COUNT/SECONDS"):
        Config.from_env({"CHECKOUT_DATA_DIR": str(tmp_path), "CHECKOUT_LOGIN_LIMIT_IP": "lots"})


def test_production_app_refuses_an_unmigrated_database(tmp_path):
    from checkout import create_app

    config = Config.from_env({**PRODUCTION, "CHECKOUT_DATA_DIR": str(tmp_path),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"})
    with pytest.raises(ConfigError, match="python -m checkout migrate"):
        create_app(config)
