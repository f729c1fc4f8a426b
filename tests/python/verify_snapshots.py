"""Runs a boto3 suite (the script named as the first argument) with a check after every AWS
call: the emulator's incremental persistence snapshot must equal its live state exported
whole (`POST /_podstack/state/verify`). A change a service forgets to mark for the next
snapshot fails the call that made it, naming the paths that differ."""

import os
import runpy
import sys
import urllib.error
import urllib.request

import boto3

ENDPOINT = os.environ["PODSTACK_ENDPOINT"]
CHECKS = 0


def verify(event_name=None, **_):
    global CHECKS
    CHECKS += 1
    req = urllib.request.Request(ENDPOINT + "/_podstack/state/verify", data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        raise AssertionError(
            f"after {event_name}: the incremental snapshot differs from the live state: {body}"
        ) from None


# Clients created with boto3.client() copy the default session's event hooks.
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("after-call", verify)

script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    print(f"snapshot checks: {CHECKS}", file=sys.stderr)
