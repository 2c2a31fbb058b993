#!/usr/bin/env python3
"""latency.py - how soon yubin --watch delivers a message that lands on
the server, for `make bench`.

Starts `yubin --watch --json -c CONFIG` (the account's folders are
--folders), waits for its first fetch, then --count times: APPENDs one
message to the next folder in turn over a plain IMAP connection of its
own, and measures from the APPEND's tagged OK to

  renamed    the message's file in the folder's Maildir new/: the
             file's ctime, which the rename from tmp/ set (polled every
             millisecond, read afterwards, so the polling adds nothing)
  recorded   the --json line of the fetch that delivered it: the file
             and its directory synced and the state's commit on disk

Prints one JSON object: the times of each append (ms) and their medians,
and how many of the messages arrived, each once.  A message that has not
arrived within --timeout seconds counts as not delivered.
"""
import argparse
import imaplib
import json
import os
import select
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "lib"))
import genmail  # noqa: E402


def maildir_of(root, folder):
    return root if folder == "INBOX" else os.path.join(root, *folder.split("/"))


def files_in(maildir):
    names = set()
    for sub in ("new", "cur"):
        try:
            names.update(os.path.join(maildir, sub, n)
                         for n in os.listdir(os.path.join(maildir, sub)))
        except FileNotFoundError:
            pass
    return names


class Watch:
    """yubin --watch, its --json lines read as they come."""

    def __init__(self, yubin, config, log):
        self.proc = subprocess.Popen([yubin, "--watch", "--json", "-v", "-c", config],
                                     stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL)
        self.buf = b""

    def next_fetch(self, deadline):
        """The next --json object, or None when the deadline passed."""
        while True:
            at = self.buf.find(b"\n")
            if at >= 0:
                line, self.buf = self.buf[:at], self.buf[at + 1:]
                return json.loads(line)
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.buf += chunk

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def wait_new_file(maildir, known, deadline):
    while time.monotonic() < deadline:
        fresh = files_in(maildir) - known
        if fresh:
            return fresh
        time.sleep(0.001)
    return set()


def wait_recorded(watch, deadline):
    """The first --json fetch after this point that delivered something."""
    while True:
        fetch = watch.next_fetch(deadline)
        if fetch is None:
            return None
        if fetch.get("status") == "ok" and fetch.get("fetched", 0) > 0:
            return time.time()


def one_append(args, imap, watch, folder, number):
    maildir = maildir_of(args.root, folder)
    known = files_in(maildir)
    gen = argparse.Namespace(seed=args.seed, batch=1, profile="small", hostile=False)
    data = genmail.make_message(gen, number).data
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    status, _ = imap.append('"%s"' % folder, None, None, data)
    appended = time.time()
    if status != "OK":
        sys.exit("APPEND to %s failed" % folder)
    deadline = time.monotonic() + args.timeout
    fresh = wait_new_file(maildir, known, deadline)
    recorded = wait_recorded(watch, deadline) if fresh else None
    if len(fresh) != 1 or recorded is None:
        return None
    renamed = os.stat(fresh.pop()).st_ctime
    return {"folder": folder, "renamed_ms": round((renamed - appended) * 1000, 1),
            "recorded_ms": round((recorded - appended) * 1000, 1)}


def run(args):
    folders = args.folders.split(",")
    imap = imaplib.IMAP4("127.0.0.1", args.port, timeout=60)
    imap.login(args.user, args.password)
    for folder in folders:
        if folder != "INBOX":
            imap.create(folder)
    with open(args.log, "ab") as log:
        watch = Watch(args.yubin, args.config, log)
        first = watch.next_fetch(time.monotonic() + 120)
        if first is None or first.get("status") != "ok":
            watch.stop()
            sys.exit("the watch's first fetch did not end well: %r" % (first,))
        samples = []
        for i in range(args.count):
            # The notifiers are back in IDLE after the last fetch.
            time.sleep(args.pause)
            samples.append(one_append(args, imap, watch, folders[i % len(folders)], i))
        watch.stop()
    imap.logout()
    done = [s for s in samples if s]
    result = {"mode": args.mode, "appended": args.count, "delivered": len(done),
              "samples": samples}
    for key in ("renamed_ms", "recorded_ms"):
        result["median_" + key] = (round(statistics.median(s[key] for s in done), 1)
                                   if done else None)
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--yubin", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--root", required=True, help="the account's Maildir")
    p.add_argument("--folders", default="INBOX", help="comma-separated")
    p.add_argument("--port", type=int, required=True, help="plain IMAP")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mode", required=True, help="a label: idle or notify")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--pause", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--seed", default="latency")
    p.add_argument("--log", required=True, help="yubin's stderr goes here")
    run(p.parse_args())


if __name__ == "__main__":
    main()
