"""``python -m checkout migrate | admin ...`` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from checkout import cli, migrations

@pytest.fixture
def env(tmp_path, site_dir, database_url, monkeypatch):
    values = {"CHECKOUT_DATA_DIR": str(tmp_path / "var"), "CHECKOUT_SITE_DIR": str(site_dir),
              "DATABASE_URL": database_url, "CHECKOUT_ARGON2_TIME_COST": "1",
              "CHECKOUT_ARGON2_MEMORY_COST": "8", "CHECKOUT_ARGON2_PARALLELISM": "1",
              "CHECKOUT_SITE_ORIGIN": "https://shop.example"}
    for key in list(os.environ):
        if key.startswith("CHECKOUT_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_migrate_then_admin_commands(env, capsys, tmp_path):
    assert cli.main(["migrate"]) == 0
    assert f"schema version 0 -> {migrations.LATEST}" in capsys.readouterr().out
    assert cli.main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out

    from checkout import create_app
    from checkout.config import Config
    import webtest

    config = Config.from_env()
    app = create_app(config)
    client = webtest.TestApp(app)
    headers = {"Origin": "https://shop.example"}
    client.post_json("/api/accounts", {"nickname": "阿梅", "email": "ops@example.com",
                                       "password": "long enough", "policy_version": "2025-10-01"},
                     headers=headers, status=202)
    assert cli.main(["admin", "send-mail"]) == 0
    assert "sent 1, failed 0" in capsys.readouterr().out
    eml = list((tmp_path / "var" / "mail").glob("*.eml"))
    assert len(eml) == 1

    assert cli.main(["admin", "export-user", "OPS@example.com"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["profile"]["email"] == "ops@example.com"

    assert cli.main(["admin", "export-user", "nobody@example.com"]) == 1
    assert "no account" in capsys.readouterr().err

    assert cli.main(["admin", "purge"]) == 0
    assert json.loads(capsys.readouterr().out)["minors_deleted"] == 0

    assert cli.main(["admin", "rotate-keys"]) == 0
    assert "re-encrypted 0 values" in capsys.readouterr().out

    assert cli.main(["admin", "delete-user", "--yes", "ops@example.com"]) == 0
    assert cli.main(["admin", "export-user", "ops@example.com"]) == 1
    app.config["checkout.database"].close()


def test_new_keys_are_usable_in_production(capsys, tmp_path):
    assert cli.main(["admin", "new-keys"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    from checkout.config import Config

    config = Config.from_env({**lines, "CHECKOUT_ENV": "production", "CHECKOUT_PAYMENTS": "live",
                              "CHECKOUT_DATA_DIR": str(tmp_path),
                              "CHECKOUT_SITE_ORIGIN": "https://www.umegou.com",
                              "CHECKOUT_MAIL_URL": "smtp://u:p@mail.example:587"})
    assert len(config.data_keys[0].key) == 32


def test_usage_error_exits_2():
    result = subprocess.run([sys.executable, "-m", "checkout", "admin", "no-such-command"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_operator_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "checkout", "migrate"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CHECKOUT_ENV": "production",
                                 "CHECKOUT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "Fix:" in result.stderr
