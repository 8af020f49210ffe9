"""The SMTP envelope and DATA payload the sender writes itself must be what smtplib writes."""

from __future__ import annotations

import smtplib

from dpa_engine.notices.smtp import END_OF_DATA, _dot_stuffed, _envelope_address


class DescribeEnvelopeAddresses:
    def it_wraps_addresses_exactly_as_smtplib_quotes_them(self) -> None:
        for address in ("privacy@customer.example", "x.y+notices@sub.example.be",
                        "o'brien@example.ie", "Jan <jan@example.be>", "a<b@c.example",
                        "\"quoted name\"@example.be", "é@example.be"):
            assert _envelope_address(address) == smtplib.quoteaddr(address), address


class DescribeDataPayload:
    def it_dot_stuffs_and_terminates_like_smtplib(self) -> None:
        for mime in (b"Subject: x\r\n\r\nbody\r\n", b"Subject: x\r\n\r\n.leading dot\r\n",
                     b".first line\r\n\r\nx\r\n..two\r\n", b"Subject: x\r\n\r\nno final break",
                     b"Subject: x\r\n\r\nmid.dle . dots\r\n.\r\n"):
            expected = smtplib._quote_periods(mime)
            if not expected.endswith(b"\r\n"):
                expected += b"\r\n"
            assert _dot_stuffed(mime) + END_OF_DATA == expected + b".\r\n", mime
