#!/usr/bin/env python3
"""A complete tiklive `exec` service in Python.

The worker daemon starts this program once and keeps it running. It writes one job per line
(JSON) to its stdin; the program answers one line per job (JSON) on stdout:
    {"id": <the job's id>, "ok": true}
    {"id": <the job's id>, "ok": false, "error": "why it failed"}
Answers may come in any order (ASYNC jobs overlap). Write logs to stderr, never to stdout.
When stdin closes, the daemon is stopping: finish and exit.

Add it as a service (no code change, no restart):
    ctl service add --name "Python example" --slug py_example --class exec \
        --setting command='python3 examples/exec_service.py' \
        --event GiftEvent:10:sync:keep --event CommentEvent:5:sync:discard
"""
import json
import sys


def handle(job):
    """Does the work for one job; raising an exception fails the job with its message."""
    event = job["event"]
    data = event["data"]
    who = event["user"]["nickname"] or event["user"]["unique_id"] or "someone"
    kind = event["type"]
    if kind == "GiftEvent":
        gift = data.get("gift", {})
        line = f"{who} sent {gift.get('name')} x{data.get('repeat_count')}"
        if event["streak"]:
            line += f" (streak {event['streak']['status']}, total {data.get('streak_total_count')})"
    elif kind == "CommentEvent":
        line = f"{who}: {data.get('comment')}"
    elif kind == "LikeEvent":
        line = f"{who} liked x{data.get('like_count')}"
    else:
        line = f"{who}: {kind}"
    print(f"[{job['service']}] {line}", file=sys.stderr, flush=True)


def main():
    for raw in sys.stdin:
        raw = raw.strip()
        if not raw:
            continue
        job = json.loads(raw)
        try:
            handle(job)
            answer = {"id": job["id"], "ok": True}
        except Exception as error:  # the job fails, the service goes on
            answer = {"id": job["id"], "ok": False, "error": str(error)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
