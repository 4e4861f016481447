"""The portal's own rule for the fuzz run, added to schemathesis's: every error answer is
the API's JSON error, with a machine-readable `code` and a message for people."""

import schemathesis


@schemathesis.check
def error_has_code(ctx, response, case):
    """An answer of 400 or above is `{"code": "...", "message": "..."}`."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except Exception as exc:  # noqa: BLE001 - any undecodable body is the failure
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.text[:200]!r}"
        ) from exc
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
        raise AssertionError(f"{response.status_code} answer has no `code`: {body!r:.200}")
    if not isinstance(body.get("message"), str):
        raise AssertionError(f"{response.status_code} answer has no `message`: {body!r:.200}")
    return None
