import pytest

from infra.config import HARVEST_DEFAULT_URL, ConfigError, load_settings
from infra.crypto import TokenCipher, generate_key

KEY = generate_key()


def test_defaults_point_at_local_services_and_real_harvest():
    s = load_settings({"HARVEST_SYNC_SECRET_KEY": KEY})
    assert s.harvest_api_url == HARVEST_DEFAULT_URL == "https://api.harvestapp.com/v2"
    assert s.database_url.startswith("postgresql+psycopg2://")
    assert s.amqp_url.startswith("amqp://")


def test_long_syncs_are_bounded_by_default():
    s = load_settings({"HARVEST_SYNC_SECRET_KEY": KEY})
    # Ten minutes of waiting on Harvest per message, five minutes a message, a day of retries.
    assert (s.harvest_patience_s, s.max_message_s, s.transient_retry_for_s) == (600, 300, 86_400)
    s = load_settings(
        {"HARVEST_SYNC_SECRET_KEY": KEY, "MAX_MESSAGE_SECONDS": "2", "HARVEST_PATIENCE_S": "30"}
    )
    assert (s.max_message_s, s.harvest_patience_s) == (2, 30)


def test_statements_are_prepared_unless_turned_off():
    assert load_settings({"HARVEST_SYNC_SECRET_KEY": KEY}).database_prepared_statements
    off = load_settings({"HARVEST_SYNC_SECRET_KEY": KEY, "DATABASE_PREPARED_STATEMENTS": "OFF"})
    assert not off.database_prepared_statements


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "HARVEST_SYNC_SECRET_KEY"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"AMQP_URL": "http://rabbit"}, "AMQP_URL"),
        ({"HARVEST_API_URL": "ftp://x"}, "HARVEST_API_URL"),
        ({"HARVEST_USER_AGENT": "curl"}, "HARVEST_USER_AGENT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"PREFETCH": "many"}, "PREFETCH"),
        ({"PREFETCH": "0"}, "PREFETCH"),
        ({"RETRY_DELAYS": "5,soon"}, "RETRY_DELAYS"),
        ({"AMQP_PREFIX": "a b"}, "AMQP_PREFIX"),
        ({"HARVEST_PATIENCE_S": "ten minutes"}, "HARVEST_PATIENCE_S"),
        ({"MAX_MESSAGE_SECONDS": "0"}, "MAX_MESSAGE_SECONDS"),
        ({"TRANSIENT_RETRY_FOR_S": "-1"}, "TRANSIENT_RETRY_FOR_S"),
        ({"DATABASE_PREPARED_STATEMENTS": "no"}, "DATABASE_PREPARED_STATEMENTS"),
    ],
)
def test_each_bad_setting_is_named_in_one_line(env, names):
    base = {} if "HARVEST_SYNC_SECRET_KEY" in names else {"HARVEST_SYNC_SECRET_KEY": KEY}
    with pytest.raises(ConfigError) as info:
        load_settings({**base, **env})
    message = str(info.value)
    assert names in message
    assert "\n" not in message


def test_password_in_a_bad_url_is_masked():
    with pytest.raises(ConfigError) as info:
        load_settings({"HARVEST_SYNC_SECRET_KEY": KEY, "AMQP_URL": "http://user:hunter2@rabbit"})
    assert "hunter2" not in str(info.value)


def test_token_cipher_seals_opens_and_rotates():
    old, new = generate_key(), generate_key()
    sealed = TokenCipher((old,)).seal("pat-123")
    assert b"pat-123" not in sealed
    rotated = TokenCipher((new, old)).reseal(sealed)
    assert TokenCipher((new,)).open(rotated) == "pat-123"
    with pytest.raises(ConfigError):
        TokenCipher((new,)).open(sealed)
    with pytest.raises(ConfigError):
        TokenCipher(())
    with pytest.raises(ConfigError):
        TokenCipher(("not-a-key",))
