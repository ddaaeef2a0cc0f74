"""AMQP_URL with several broker addresses: parsing, validation, masking, parameters."""

from __future__ import annotations

import pytest

from infra.amqp import connection
from infra.amqp.connection import connection_parameters, mask_url, rotated
from infra.config import ConfigError, amqp_addresses, load_settings, masked_amqp_url
from infra.crypto import generate_key

KEY = generate_key()
TWO = "amqp://guest:hunter2@h1:5672/%2F, amqps://ops:s3cret@h2:5673/jobs"


def _settings(amqp_url: str):
    return load_settings({"HARVEST_SYNC_SECRET_KEY": KEY, "AMQP_URL": amqp_url})


def test_the_addresses_are_split_on_commas_in_order_without_blanks():
    assert amqp_addresses(TWO) == ("amqp://guest:hunter2@h1:5672/%2F", "amqps://ops:s3cret@h2:5673/jobs")
    assert amqp_addresses("amqp://h") == ("amqp://h",)


def test_settings_accept_several_addresses():
    assert _settings(TWO).amqp_url == "amqp://guest:hunter2@h1:5672/%2F,amqps://ops:s3cret@h2:5673/jobs"
    assert _settings("amqp://h1").amqp_url == "amqp://h1"


@pytest.mark.parametrize(
    "bad",
    [
        "amqp://guest:hunter2@h1/%2F,http://ops:s3cret@h2/",  # a second part of another scheme
        "amqp://guest:hunter2@h1/%2F,amqp://ops:s3cret@/x",  # a second part without a host
        "amqp://guest:hunter2@h1/%2F,",  # an empty part
        "amqp://guest:hunter2@h1/%2F,,amqp://ops:s3cret@h2/",
        "ftp://guest:hunter2@h1/,amqp://ops:s3cret@h2/",  # the first part is the bad one
        "amqp://guest:hunter2@h1:notaport/,amqp://ops:s3cret@h2/",
    ],
)
def test_each_part_must_be_an_amqp_url_with_a_host_and_no_password_is_shown(bad):
    with pytest.raises(ConfigError) as info:
        _settings(bad)
    message = str(info.value)
    assert message.startswith("AMQP_URL ")
    assert "\n" not in message
    assert "hunter2" not in message and "s3cret" not in message
    assert "address " in message  # which of the parts is wrong


def test_a_single_bad_url_is_reported_as_before():
    with pytest.raises(ConfigError) as info:
        _settings("http://user:hunter2@rabbit")
    assert "AMQP_URL" in str(info.value) and "hunter2" not in str(info.value)
    assert "address " not in str(info.value)


def test_every_password_is_masked():
    expected = "amqp://guest:***@h1:5672/%2F,amqps://ops:***@h2:5673/jobs"
    assert mask_url(TWO) == expected
    assert masked_amqp_url(TWO) == expected
    assert mask_url("amqp://guest:s3cret@rabbit:5672/%2F") == "amqp://guest:***@rabbit:5672/%2F"
    assert mask_url("amqp://a/%2F,amqp://b:pw@[::1]:5672/") == "amqp://a/%2F,amqp://b:***@[::1]:5672/"


def test_connection_parameters_has_one_entry_per_address(monkeypatch):
    monkeypatch.setattr(connection, "_start", lambda count: 0)
    first, second = connection_parameters(TWO, role="test", prefix="p", heartbeat=7)
    assert (first.host, first.port, first.virtual_host) == ("h1", 5672, "/")
    assert (second.host, second.port, second.virtual_host) == ("h2", 5673, "jobs")
    assert second.ssl_options is not None and first.ssl_options is None
    assert (first.credentials.password, second.credentials.password) == ("hunter2", "s3cret")
    for params in (first, second):
        assert params.heartbeat == 7
        assert params.blocked_connection_timeout == connection.BLOCKED_CONNECTION_TIMEOUT_S
        assert params.client_properties["connection_name"].startswith("harvest-sync/test/p/")


def test_connection_parameters_start_at_a_random_address_and_keep_the_order():
    url = ",".join(f"amqp://h{i}/" for i in range(4))
    seen = set()
    for _ in range(200):
        hosts = [p.host for p in connection_parameters(url, role="test", prefix="p")]
        assert sorted(hosts) == ["h0", "h1", "h2", "h3"]
        start = int(hosts[0][1:])
        assert hosts == [f"h{(start + i) % 4}" for i in range(4)]  # a rotation, not a shuffle
        seen.add(hosts[0])
    assert seen == {"h0", "h1", "h2", "h3"}  # (a chance of 4 * 0.75**200 of a false failure)


def test_rotated_wraps_around():
    assert rotated([1, 2, 3], 1) == [2, 3, 1]
    assert rotated([1, 2, 3], 4) == [2, 3, 1]
    assert rotated([1], 1) == [1]
    assert rotated([], 3) == []
