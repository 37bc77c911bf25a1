"""The whole loop: a campaign is sent over SMTP, the replies, an out-of-office answer, a
bounce (RFC 3464) and a complaint (ARF) come back as mail, `crm import mail` reads them,
and the campaign's results, the segment fields and the next campaign all see them."""

from __future__ import annotations

import json
from email.message import EmailMessage

import pytest


class Inbox:
    def __init__(self):
        self.sent: dict[str, EmailMessage] = {}

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        msg = message_from_bytes(envelope.content, policy=default)
        for r in envelope.rcpt_tos:
            self.sent[r] = msg
        return "250 OK"


@pytest.fixture
def inbox(isolated, smtp_handler):
    handler = Inbox()
    port = smtp_handler(handler)
    (isolated / "config" / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n\n'
        '[campaign]\nfrom = "Shop <news@shop.example>"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n\n'
        '[mail]\nown_addresses = ["news@shop.example"]\n',
        encoding="utf-8",
    )
    return handler


def _reply(original: EmailMessage, sender: str, body: str, **headers) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "news@shop.example"
    m["Subject"] = "Re: " + str(original["Subject"])
    m["Date"] = "Wed, 11 Mar 2026 10:00:00 +0100"
    m["Message-ID"] = f"<reply.{sender}>"
    m["In-Reply-To"] = str(original["Message-ID"])
    m["References"] = str(original["Message-ID"])
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m


def _report(kind: str, original: EmailMessage, rcpt: str) -> bytes:
    """A bounce (RFC 3464) or an ARF complaint about one campaign message, as an MTA or a
    mailbox provider writes it: the report part, then the original's headers."""
    mid = original["Message-ID"]
    if kind == "dsn":
        top = ("From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n"
               "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn.1@mx.example.com>\n"
               "Auto-Submitted: auto-replied\n")  # fmt: skip
        rtype, ctype = "delivery-status", "message/delivery-status"
        text = "Your message could not be delivered."
        report = ("Reporting-MTA: dns; mx.example.com\n\n"
                  f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n"
                  f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected\n")  # fmt: skip
    else:
        top = ("From: feedback@isp.example\nSubject: Abuse report\n"
               "Message-ID: <arf.1@isp.example>\n")  # fmt: skip
        rtype, ctype = "feedback-report", "message/feedback-report"
        text = "This is an email abuse report."
        report = ("Feedback-Type: abuse\nUser-Agent: isp/1.0\nVersion: 1\n"
                  f"Original-Rcpt-To: {rcpt}\n")  # fmt: skip
    return (
        f"{top}To: news@shop.example\nDate: Wed, 11 Mar 2026 10:00:00 +0100\n"
        f'MIME-Version: 1.0\nContent-Type: multipart/report; report-type={rtype}; boundary="B"\n\n'
        f"--B\nContent-Type: text/plain\n\n{text}\n\n"
        f"--B\nContent-Type: {ctype}\n\n{report}\n"
        f"--B\nContent-Type: text/rfc822-headers\n\nFrom: news@shop.example\nTo: {rcpt}\n"
        f"Subject: {original['Subject']}\nMessage-ID: {mid}\n\n--B--\n"
    ).encode()


def test_replies_bounces_and_complaints_come_back_to_the_campaign(crm, inbox, isolated):
    import mailbox

    people = ["ann", "bob", "cat", "dan", "eve", "fox"]
    for p in people:
        crm("contact", "add", p.title(), "--email", f"{p}@example.com", "--tag", "vip")
    crm("segment", "add", "vips", "tag:vip")
    tpl = isolated / "t.txt"
    tpl.write_text("Hi {{ first_name }}\n", encoding="utf-8")
    crm("campaign", "add", "spring", "--segment", "vips", "--subject", "Spring", "--template",
        str(tpl))  # fmt: skip
    crm("campaign", "send", "spring")
    assert len(inbox.sent) == 6
    sent = inbox.sent
    box = mailbox.mbox(isolated / "inbox.mbox")
    for msg in (
        _reply(sent["ann@example.com"], "ann@example.com", "Yes please, call me."),
        _reply(
            sent["bob@example.com"],
            "bob@example.com",
            "I am away until Monday.",
            Auto_Submitted="auto-replied",
        ),  # fmt: skip
        _report("dsn", sent["cat@example.com"], "cat@example.com"),
        _report("arf", sent["dan@example.com"], "dan@example.com"),
    ):
        box.add(msg)
    box.close()
    res = crm.json("import", "mail", str(isolated / "inbox.mbox"))
    assert res["rejected"] == 0, res
    rows = {r["metric"]: r for r in crm.json("report", "campaign", "spring")["rows"]}
    assert rows["sent"]["count"] == 6
    assert rows["replied"]["count"] == 1
    assert rows["auto-replied"]["count"] == 1
    assert rows["bounced"]["count"] == 1
    assert rows["complained"]["count"] == 1
    assert rows["opted out"]["count"] == 1  # the complaint opted dan out
    # The filter language sees it: who replied, who got it.
    replied = crm.json("contact", "list", "replied:spring")
    assert [c["name"] for c in replied] == ["Ann"]
    assert len(crm.json("contact", "list", "campaign:spring")) == 6
    assert [c["name"] for c in crm.json("contact", "list", "email_status:bounced")] == ["Cat"]
    # The reply is on Ann's timeline, in the campaign's thread.
    timeline = crm.json("timeline", "ann@example.com")
    assert any("call me" in (a.get("body") or "") for a in timeline)
    # The next campaign to the same people skips the bounced and the complainer.
    crm("campaign", "add", "summer", "--segment", "vips", "--subject", "Summer", "--template",
        str(tpl))  # fmt: skip
    dry = json.loads(crm("campaign", "send", "summer", "--dry-run", "--json").stdout)
    assert dry["skipped"] == {"bounced": 1, "opted_out": 1}
    assert dry["remaining"] == 4
