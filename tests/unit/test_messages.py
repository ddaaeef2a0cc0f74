import json

import pytest

from domain.commands import SyncEntities
from domain.errors import MalformedMessage, PermanentError
from infra import messages


def _cmd() -> SyncEntities:
    return SyncEntities(
        account_id=7, kinds=("clients_projects", "people"), requested_at="2026-11-26T00:00:00Z"
    )


def test_round_trip_keeps_the_command_and_its_deterministic_id():
    cmd = _cmd()
    type_, body = messages.encode(cmd)
    assert type_ == "sync_entities"
    assert messages.decode(body) == cmd
    assert json.loads(body)["message_id"] == cmd.message_id == _cmd().message_id
    assert cmd.route.queue == "entities"


def _body(**overrides) -> bytes:
    doc = json.loads(messages.encode(_cmd())[1])
    for key, value in overrides.items():
        if key.startswith("payload_"):
            doc["payload"][key[len("payload_") :]] = value
        else:
            doc[key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_body(v=2), "unsupported message version"),
        (_body(type="drop_tables"), "unknown command type"),
        (_body(payload_account_id="7"), "must be an integer"),
        (_body(payload_account_id=True), "must be an integer"),
        (_body(payload_kinds="people"), "must be a list"),
        (_body(payload_kinds=["payroll"]), "kinds must be"),
        (_body(payload_kinds=[]), "kinds must be"),
        (_body(message_id="forged"), "message_id does not match"),
        (b'{"v":1,"type":"sync_entities","payload":{"account_id":1}}', "missing field"),
        (b"x" * (messages.MAX_BODY_BYTES + 1), "exceeds"),
    ],
)
def test_malformed_messages_are_permanent_errors_with_a_reason(body, reason):
    with pytest.raises(MalformedMessage, match=reason) as info:
        messages.decode(body)
    assert isinstance(info.value, PermanentError)
