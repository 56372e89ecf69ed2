"""Mail: outbox -> file backend and SMTP (a real aiosmtpd server on 127.0.0.1 with STARTTLS)."""

from __future__ import annotations

import datetime as dt
import email
import socket
import ssl
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checkout import mail
from checkout.models import Outbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collect:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content, session.authenticated))
        return "250 OK"


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def smtp_server(tmp_path):
    cert, key = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    handler = Collect()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"shop", b"s3cret")
        return AuthResult(success=ok, handled=False)

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=tls,
                            require_starttls=True, authenticator=authenticate, auth_require_tls=True)
    controller.start()
    yield handler, port, cert
    controller.stop()



def test_file_backend_writes_eml_and_erases_the_outbox_copy(app, ctx, shopper, clock, config):
    shopper.register()
    with Outbox._meta.database.connection_context():
        sent, failed = mail.send_pending(config, ctx.cipher, mail.transport_for(config), now=clock.now)
        assert (sent, failed) == (1, 0)
        row = Outbox.get()
        assert row.status == "sent" and row.body_enc is None and row.recipient_enc is None
        assert mail.send_pending(config, ctx.cipher, mail.transport_for(config), now=clock.now) == (0, 0)
    files = list((config.data_dir / "mail").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email_policy.default)
    assert message["To"] == "mei@example.com" and message["Subject"] == "请激活您的 umegou 账户"
    assert "/account/activate/?token=" in message.get_content()


def test_smtp_with_starttls_and_auth(app, ctx, shopper, clock, make_config, database_url, smtp_server):
    handler, port, cert = smtp_server
    config = make_config(database_url, mail_url=f"smtp://shop:s3cret@127.0.0.1:{port}?cafile={cert}")
    shopper.register()
    with Outbox._meta.database.connection_context():
        assert mail.send_pending(config, ctx.cipher, mail.transport_for(config), now=clock.now) == (1, 0)
    [(rcpt, content, authenticated)] = handler.messages
    assert rcpt == ["mei@example.com"] and authenticated
    message = email.message_from_bytes(content, policy=email_policy.default)
    assert "token=" in message.get_content() and message["Message-ID"]


def test_smtp_down_is_retried_with_backoff_and_sent_once(app, ctx, shopper, clock, make_config,
                                                         database_url, smtp_server):
    handler, port, cert = smtp_server
    down = make_config(database_url, mail_url=f"smtp://shop:s3cret@127.0.0.1:{free_port()}?cafile={cert}")
    up = make_config(database_url, mail_url=f"smtp://shop:s3cret@127.0.0.1:{port}?cafile={cert}")
    shopper.register()
    with Outbox._meta.database.connection_context():
        assert mail.send_pending(down, ctx.cipher, mail.transport_for(down), now=clock.now) == (0, 1)
        row = Outbox.get()
        assert row.status == "pending" and row.attempts == 1 and "Error" in row.last_error
        # Not due before its backoff has passed, even with the server back.
        assert mail.send_pending(up, ctx.cipher, mail.transport_for(up), now=clock.now) == (0, 0)
        clock.advance(seconds=61)
        assert mail.send_pending(up, ctx.cipher, mail.transport_for(up), now=clock.now) == (1, 0)
        assert mail.send_pending(up, ctx.cipher, mail.transport_for(up), now=clock.now) == (0, 0)
    assert len(handler.messages) == 1


def test_wrong_smtp_password_is_a_failure_not_a_send(app, ctx, shopper, clock, make_config,
                                                     database_url, smtp_server):
    handler, port, cert = smtp_server
    config = make_config(database_url, mail_url=f"smtp://shop:wrong@127.0.0.1:{port}?cafile={cert}",
                         mail_max_attempts=1)
    shopper.register()
    with Outbox._meta.database.connection_context():
        assert mail.send_pending(config, ctx.cipher, mail.transport_for(config), now=clock.now) == (0, 1)
        assert Outbox.get().status == "failed"  # gave up after mail_max_attempts
    assert handler.messages == []


def test_a_claimed_row_is_not_sent_by_a_second_sender(app, ctx, shopper, clock, config):
    shopper.register()

    class Recording:
        def __init__(self):
            self.sent = []

        def send(self, message):
            # While this sender holds the row, a second sender finds nothing to do.
            self.sent.append(message["Message-ID"])
            assert mail.send_pending(config, ctx.cipher, other, now=clock.now) == (0, 0)

    first, other = Recording(), Recording()
    with Outbox._meta.database.connection_context():
        assert mail.send_pending(config, ctx.cipher, first, now=clock.now) == (1, 0)
    assert len(first.sent) == 1 and other.sent == []


def test_template_error_names_the_file(tmp_path, config):
    (tmp_path / "broken.txt").write_text("Subject: x\n{{ missing_value }}\n")
    with pytest.raises(mail.MailError, match=r"broken.txt:.*Fix"):
        mail.render(tmp_path, "broken", {})
