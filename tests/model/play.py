"""play.py - play one scenario against yubin and judge it (the oracle).

play(scenario, yubin, workroot) runs yubin once per "run" event, with the
faults before it, then healthy runs, and returns the list of problems
found (empty: the scenario passed) and a log of the runs.  What is
checked is listed in README ("The oracle").  Stdlib only.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import flagmodel
import modelserver
import scenario as scen

import fakerun  # noqa: E402  (on sys.path through modelserver)

PASSWORD = "model-Secret-7"
RUN_SECONDS = 15            # a run that takes longer hangs
SERVER_LIMIT = 40           # the server gives up after this
ACCOUNT_TIMEOUT = 2         # the account's timeout: only a hole stalls
KILLED = -signal.SIGKILL
# Faults after which a run must still deliver what it was meant to.
PROGRESS_FAULTS = {"size-lie", "examine-no", "uidvalidity", "inbox-spelling",
                   "list-extra", "exists-between", "expunge-between", "flag-race"}

# Faults after which yubin cannot know whether a STORE it sent was done.
CUT_OFF = {"drop", "cut", "sigkill", "store-drop"}
# Faults after which it knows that a STORE was not done.
REFUSALS = {"store-no", "flag-race"}

# The model's MDA: one message from stdin into a file of its own in
# $MDA_MAILDIR/new.  Two processes per message (sh, then cat), since forks
# are most of what a scenario costs: the name is reserved with noclobber
# (no mktemp), and the file is written in place (a tmp/ and a rename would
# not make it safer: cat ends at EOF, whole message or not).  An empty
# file there is a name reserved by an MDA killed before cat ran; the
# scenarios give an MDA no empty message.
MDA_SCRIPT = """#!/bin/sh
set -C
n=0
while ! : 2>/dev/null >"$MDA_MAILDIR/new/$$.$n"; do n=$((n + 1)); done
exec cat >>"$MDA_MAILDIR/new/$$.$n"
"""

# Files the runner itself keeps in a scenario's directory (yubin's HOME).
# mbox.lock: the dotlock of the mbox, which a killed run leaves behind
# (the end of the scenario checks that it is gone).
RUNNER_FILES = {"Maildir", "mbox", "mbox.lock", "state", "mda", "mda.sh", "config.yaml"}


class Scene:
    """One scenario being played: its directory, the server's World and
    what the oracle has learnt so far."""

    def __init__(self, sc, yubin, workroot):
        self.sc = sc
        self.yubin = yubin
        self.dir = tempfile.mkdtemp(prefix="s", dir=workroot)
        self.world = modelserver.World(sc)
        self.problems = []
        self.log = []
        self.kills = 0
        self.renumbered = False
        self.torn = False
        self.killed = False       # some run was killed (SIGKILL, or its kill point)
        self.ever_present = set(self.world.present)
        self.removed_by_other = set()
        self.deleted = set()
        self.last_counts = {}
        self.stored = {m["id"]: stored_form(sc, m["body"].encode("latin-1"))
                       for m in sc["messages"]}
        self.oracle = flagmodel.FlagOracle() if sc.get("flags") else None
        if sc["sink"] == "mda":
            for sub in ("tmp", "new"):
                os.makedirs(os.path.join(self.dir, "mda", sub))
            with open(os.path.join(self.dir, "mda.sh"), "w") as f:
                f.write(MDA_SCRIPT)

    # --- the account ---

    def sink_path(self):
        return os.path.join(self.dir, {"maildir": "Maildir", "mbox": "mbox",
                                       "mda": "mda"}[self.sc["sink"]])

    def write_config(self, port):
        sc = self.sc
        q = json.dumps
        lines = ["accounts:", "  - name: model", "    protocol: %s" % sc["protocol"],
                 "    host: 127.0.0.1", "    port: %d" % port, "    tls: none",
                 "    allow_plaintext: true", "    user: tester",
                 "    password: %s" % q(PASSWORD), "    timeout: %d" % ACCOUNT_TIMEOUT,
                 "    keep: %s" % ("true" if sc["keep"] else "false"),
                 "    state_dir: %s" % q(os.path.join(self.dir, "state"))]
        if sc["protocol"] == "imap":
            lines.append("    folders: [%s]" % ", ".join(q(p) for p in sc["patterns"]))
        if sc.get("flags"):
            lines.append("    sync_flags: both")
        if sc["sink"] == "mda":
            dest = "mda: %s" % q("sh " + os.path.join(self.dir, "mda.sh"))
        else:
            dest = "%s: %s" % (sc["sink"], q(self.sink_path()))
        lines += ["    deliver:", "      " + dest]
        path = os.path.join(self.dir, "config.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    # --- the sink ---

    def excused_leftover(self, path):
        """A leftover no run could have cleared: after the state was torn
        every run stops at once (78, touching nothing), so a message file
        a killed run left in tmp/ stays; and what a killed run left (its
        process is gone) stays until a run opens that sink again: yubin
        removes such tmp/ files when it opens a Maildir, and breaks such
        a dotlock, as mutt and procmail do, when it locks the mbox."""
        if self.torn:
            return True
        if not self.killed:
            return False
        name = os.path.basename(path)
        pid_in_name = re.search(r"\.M\d+P(\d+)Q\d+", name)
        try:
            if pid_in_name and os.path.basename(os.path.dirname(path)) == "tmp":
                pid = int(pid_in_name.group(1))
            elif name.endswith(".lock"):
                with open(path, "rb") as f:
                    pid = int(f.read(64).split(b":")[0].strip() or b"0")
            else:
                return False
        except (OSError, ValueError):
            return False
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
        return False

    def sink_items(self):
        """(published messages, leftovers) in the sink."""
        path = self.sink_path()
        if self.sc["sink"] == "mda":
            items, leftovers = fakerun.maildir_contents(path)
            return [item for item in items if item], leftovers
        if self.sc["sink"] != "mbox":
            return fakerun.maildir_contents(path)
        if not os.path.isdir(path):
            return fakerun.mbox_contents(path)
        items, leftovers = [], []
        for dirpath, _, names in os.walk(path):
            for name in names:
                got, left = mbox_file(os.path.join(dirpath, name))
                items += got
                leftovers += left
        return items, leftovers

    def counts(self):
        """How many copies of each message the sink holds, and the
        contents that are no message of the scenario."""
        by_body = {}
        for mid, body in self.stored.items():
            by_body.setdefault(body, []).append(mid)
        counts, strays = {}, []
        items, _ = self.sink_items()
        for item in items:
            if item in by_body:
                counts[item] = counts.get(item, 0) + 1
            else:
                strays.append(item)
        return counts, strays, by_body

    # --- the oracle's expectations ---

    def fetchable(self, mid):
        if self.sc["protocol"] == "pop3":
            return True
        return any(pattern_matches(p, self.world.folder_of[mid]) for p in self.sc["patterns"])

    def may_skip(self, mid):
        folder = self.world.folder_of[mid]
        return self.sc["protocol"] == "imap" and folder != "INBOX" and \
            folder not in scen.PLAIN_FOLDERS

    def bounds(self, mid, final):
        """How many copies of message mid the sink may hold: (low, high)."""
        if mid not in self.ever_present or not self.fetchable(mid):
            return 0, 0
        extra = self.kills if self.sc["sink"] == "mda" else 0
        if mid in self.deleted:
            return 1, 1 + extra
        if not final or self.torn or mid in self.removed_by_other or self.may_skip(mid):
            return 0, 1 + extra
        return 1, 1 + extra

    def check_sink(self, when, final=False):
        counts, strays, by_body = self.counts()
        for item in strays[:3]:
            self.problem(when, "the sink holds bytes that are no message of the "
                         "scenario (%d bytes: %r)" % (len(item), item[:80]))
        extra_total = 0
        for body, mids in by_body.items():
            low = sum(self.bounds(m, final)[0] for m in mids)
            high = sum(self.bounds(m, final)[1] for m in mids)
            got = counts.get(body, 0)
            extra_total += max(0, got - len(mids))
            if not low <= got <= high:
                self.problem(when, "message %s: %d in the sink, expected %s" % (
                    "/".join(map(str, mids)), got,
                    low if low == high else "%d..%d" % (low, high)))
            if got < self.last_counts.get(body, 0):
                self.problem(when, "message %s vanished from the sink (%d -> %d)" % (
                    "/".join(map(str, mids)), self.last_counts[body], got))
        if self.sc["sink"] == "mda" and extra_total > self.kills:
            self.problem(when, "%d messages handed to the MDA twice, after %d kills"
                         % (extra_total, self.kills))
        self.last_counts = counts
        strays = sorted(set(os.listdir(self.dir)) - RUNNER_FILES)
        if strays:
            self.problem(when, "written outside the sink and state: %s" % ", ".join(strays[:5]))

    def check_deletion(self, when, ids, final):
        """Called by the server before it deletes messages for good
        (final) or flags them \\Deleted."""
        what = "deleted" if final else "flagged \\Deleted"
        if self.sc["keep"]:
            self.problem(when, "keep: true, yet messages %s were %s on the server" % (ids, what))
        counts, _, _ = self.counts()
        for mid in ids:
            if final:
                self.deleted.add(mid)
            if counts.get(self.stored[mid], 0) < 1:
                self.problem(when, "message %d %s on the server before it was in the sink"
                             % (mid, what))
            if not self.fetchable(mid):
                self.problem(when, "message %d %s on the server, from folder %r that "
                             "the account does not fetch" % (mid, what, self.world.folder_of[mid]))

    def problem(self, when, text):
        self.problems.append("%s: %s" % (when, text))

    # --- runs ---

    def run(self, when, faults, kill_at=None):
        holder = {}

        def on_kill():
            child = holder.get("child")
            if child is not None:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except OSError:
                    pass
        server = modelserver.ModelServer(self.world, faults, on_kill,
                                         lambda ids, final: self.check_deletion(when, ids, final),
                                         SERVER_LIMIT)
        env = run_env(self.dir)
        if kill_at:
            env["YUBIN_TEST_KILL_AT"] = str(kill_at)
        cmd = [self.yubin, "-c", self.write_config(server.port), "--json", "-q"]
        timed_out = False
        try:
            child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
            holder["child"] = child
            try:
                out, err = child.communicate(timeout=RUN_SECONDS)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(child.pid, signal.SIGKILL)
                out, err = child.communicate()
        finally:
            server.stop()
        status = child.returncode
        if status == KILLED:
            self.killed = True
        stores = ", flag stores: %d (%d [MODIFIED])" % (
            server.flag_stores, server.flag_modified) if self.oracle else ""
        self.log.append("%s: exit %s, faults fired: %s, commands: %s%s%s" % (
            when, status, sorted(server.fired_kinds) or "none",
            server.commands, stores, "; stderr: " + tail(err) if err.strip() else ""))
        return status, out, err, timed_out, server

    def judge(self, when, status, err, timed_out, server, faults, kill_at):
        text = err.decode("utf-8", "replace")
        mark = next((m for m in fakerun.SANITIZER_MARKS if m in text), None)
        if timed_out:
            self.problem(when, "hung: killed after %ds" % RUN_SECONDS)
            return
        if mark:
            self.problem(when, "sanitizer report (%s): %s" % (mark, tail(err)))
        killed_by_hook = kill_at and "test hook: killed" in text
        killed = killed_by_hook or "sigkill" in server.fired_kinds
        if killed and status == KILLED:
            self.kills += 1
            step = re.search(r"killed at step \d+ \(([^)]*)\)", text)
            if step:
                self.log.append("%s: killed at %s" % (when, step.group(1)))
            return
        if killed_by_hook:
            self.problem(when, "the test hook fired but the exit status is %s" % status)
            return
        allowed = allowed_exits([f for f in faults if f.get("fired")])
        if self.torn:
            allowed = {78}          # a corrupt state file, from now on
        if self.renumbered and allowed == {0}:
            # The UIDLs of the run before were all new; now the true ones
            # are: a listing whose UIDLs are all new may be refused.
            allowed = {0, 76}
        self.renumbered = "uidl-renumber" in server.fired_kinds
        if status not in allowed:
            self.problem(when, "exit %s, expected %s for the faults that fired (%s); "
                         "stderr: %s" % (status, "/".join(map(str, sorted(allowed))),
                                         ", ".join(sorted(server.fired_kinds)) or "none",
                                         tail(err)))

    def tear_state(self, lines):
        """Cut the state snapshot after its first lines (at a line end):
        yubin must see that it is not whole (exit 78, a corrupt state
        file) rather than forget the records cut away."""
        path = os.path.join(self.dir, "state", "model", "snapshot")
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            kept = f.read().split(b"\n")[:-1]
        if len(kept) <= lines:
            return
        with open(path, "wb") as f:
            f.write(b"".join(line + b"\n" for line in kept[:lines]))
        self.torn = True

    # --- flags (sync_flags: both) ---

    def local_flags(self):
        """({mid: letters}, {mid: path}) of the messages the Maildir holds
        once, under bytes no other message of the scenario has."""
        files = flagmodel.maildir_files(self.sink_path())
        by_body = {}
        for mid, body in self.stored.items():
            by_body.setdefault(body, []).append(mid)
        letters, paths = {}, {}
        for body, found in files.items():
            mids = by_body.get(body, [])
            if len(mids) == 1 and len(found) == 1:
                paths[mids[0]] = found[0]
                letters[mids[0]] = set(flagmodel.letters_of(found[0])) & set(flagmodel.LETTERS)
        return letters, paths

    def server_flags(self):
        return {mid: set(self.world.flags[mid]) for mid in self.world.present}

    def observe_flags(self, clean=False, faults=(), ended=False, excused=False):
        local, _ = self.local_flags()
        for f in faults:
            if f["kind"] == "flag-race" and f.get("fired") and f["mid"] in local:
                if (f["letter"] in local[f["mid"]]) == f["pre"]:
                    self.oracle.agreed_before(f["mid"], f["letter"], f["pre"])
        self.oracle.observe(local, self.server_flags(), clean, ended, excused)

    def excused_push(self, status, server):
        """May the run have left a push open that the oracle lets yubin
        count as done later?  After a kill or a lost connection yubin
        cannot know whether the server did it (class flag-open-push makes
        that strict); after a NO or [MODIFIED] it knows it did not (class
        flag-refused makes that strict)."""
        strict = set(self.sc.get("strict", []))
        cut_off = status == KILLED or bool(server.fired_kinds & CUT_OFF)
        refused = bool(server.fired_kinds & REFUSALS)
        return (cut_off and "flag-open-push" not in strict) or \
            (refused and "flag-refused" not in strict)

    def settle_flags(self):
        """The two clean runs a flag scenario begins with (without
        flag-fresh): they deliver, then record the agreed flags."""
        for when in ("first run", "settling run"):
            expected = self.expect_flags()
            status, _, err, timed_out, server = self.run(when, [])
            self.judge(when, status, err, timed_out, server, [], None)
            self.check_sink(when)
            self.check_flags(when, expected)
            self.observe_flags(status == 0, ended=True)

    def expect_flags(self):
        """What the rule allows after the next clean run(s), as things
        stand before it."""
        self.observe_flags()
        return self.oracle.expect(self.local_flags()[0], self.server_flags())

    def change_flag(self, event):
        if event["do"] == "server-flag":
            if event["id"] in self.world.present:
                self.world.set_flag(event["id"], event["letter"], event["on"])
            return
        _, paths = self.local_flags()
        if event["id"] in paths:
            flagmodel.set_letter(paths[event["id"]], event["letter"], event["on"])

    def check_flags(self, when, expected):
        """Both sides agree on every letter, as the rule says."""
        local, server = self.local_flags()[0], self.server_flags()
        for mid in sorted(local.keys() & server.keys()):
            for c in flagmodel.LETTERS:
                on_l, on_s = c in local[mid], c in server[mid]
                if on_l != on_s:
                    self.problem(when, "message %d: flag %s not converged: local %s, "
                                 "server %s" % (mid, c, on_l, on_s))
                elif (mid, c) in expected and on_l not in expected[(mid, c)]:
                    self.problem(when, "message %d: flag %s is %s on both sides, the rule "
                                 "says %s: a change was lost" % (
                                     mid, c, on_l, "/".join(map(str, expected[(mid, c)]))))
        return local, server

    def apply(self, event):
        if event["do"] in ("local-flag", "server-flag"):
            self.change_flag(event)
        elif event["do"] == "tear-state":
            self.tear_state(event["lines"])
        elif event["do"] == "add":
            self.world.add(event["id"])
            self.ever_present.add(event["id"])
        elif event["do"] == "remove":
            if event["id"] in self.world.present:
                self.removed_by_other.add(event["id"])
            self.world.remove(event["id"])

    def play(self):
        pending = []
        number = 0
        if self.oracle and not self.sc.get("fresh"):
            self.settle_flags()
        for event in self.sc["events"]:
            if event["do"] == "fault":
                pending.append(dict(event))
                if event["kind"] == "uidvalidity":
                    self.world.new_uidvalidity(event["folder"])
                continue
            if event["do"] != "run":
                self.apply(event)
                continue
            number += 1
            when = "run %d" % number
            kill_at = event.get("kill_at")
            before = set(self.world.present)
            expected = self.expect_flags() if self.oracle else None
            status, _, err, timed_out, server = self.run(when, pending, kill_at)
            self.note_changes(before, pending)
            self.judge(when, status, err, timed_out, server, pending, kill_at)
            if self.oracle:
                clean = status == 0 and not server.fired_kinds
                if clean and not self.sc.get("fresh"):
                    self.check_flags(when, expected)
                self.observe_flags(clean, pending, ended=True,
                                   excused=self.excused_push(status, server))
            self.check_progress(when, status, before, pending, server, kill_at, err)
            self.check_sink(when)
            pending = []
        self.healthy()

    def check_progress(self, when, status, before, faults, server, kill_at, err):
        """A run that was not killed and met only faults that stop no
        fetch (NO on one folder stops that folder) delivers every message
        the server held when it began, but in a folder it may skip."""
        fired = [f for f in faults if f.get("fired")]
        progress_faults = PROGRESS_FAULTS
        if self.sc["protocol"] == "pop3":
            # A POP3 body shorter than LIST said is not kept.
            progress_faults = PROGRESS_FAULTS - {"size-lie"}
        if server.fired_kinds - progress_faults or status == KILLED:
            return
        refused = {f["folder"] for f in fired if f["kind"] == "examine-no"}
        if status != 0 and not refused:
            return
        counts, _, _ = self.counts()
        for mid in sorted(before):
            folder = self.world.folder_of[mid]
            if not self.fetchable(mid) or self.may_skip(mid) or mid in self.removed_by_other \
                    or folder in refused or (folder.upper() == "INBOX" and "INBOX" in refused):
                continue
            if counts.get(self.stored[mid], 0) < 1:
                self.problem(when, "message %d (folder %r) was on the server and the run "
                             "did not deliver it (exit %s, faults: %s); stderr: %s" % (
                                 mid, folder, status,
                                 ", ".join(sorted(server.fired_kinds)) or "none", tail(err)))

    def note_changes(self, before, faults):
        """Messages another client expunged or added during the run."""
        for f in faults:
            # Also one that arrived during this very run: it is gone.
            if f.get("fired") and f["kind"] == "expunge-between":
                self.removed_by_other.add(f["id"])
            if f.get("fired") and f["kind"] == "exists-between":
                self.ever_present.add(f["id"])

    def healthy_flags(self):
        """sync_flags: both: a healthy run (a message it meets first takes
        its agreed flags), a second that must leave both sides equal as
        the rule says, and a last that must change nothing."""
        expected = self.expect_flags()
        for when in ("healthy run", "second run", "last run"):
            status, out, err, timed_out, server = self.run(when, [])
            self.judge(when, status, err, timed_out, server, [], None)
            self.check_sink(when, final=True)
            if when == "second run":
                settled = self.check_flags(when, expected)
        if status == 0 and json_field(out, "fetched") != 0:
            self.problem("last run", "fetched %s messages, expected nothing new"
                         % json_field(out, "fetched"))
        now = (self.local_flags()[0], self.server_flags())
        for side, before, after in zip(("local", "server"), settled, now):
            for mid in sorted(before.keys() & after.keys()):
                if before[mid] != after[mid]:
                    self.problem("last run", "message %d: %s flags changed from %s to %s "
                                 "with nothing new (a flip-flop)" % (
                                     mid, side, "".join(sorted(before[mid])) or "none",
                                     "".join(sorted(after[mid])) or "none"))

    def healthy(self):
        """A healthy run, then a last one that must find nothing new.  The
        last run is left out when the healthy one fetched nothing and found
        nothing new: it would meet the same server and the same state."""
        if self.oracle:
            self.healthy_flags()
            self.check_leftovers()
            return
        status, out, err, timed_out, server = self.run("healthy run", [])
        self.judge("healthy run", status, err, timed_out, server, [], None)
        self.check_sink("healthy run", final=True)
        if status != 0 or json_field(out, "fetched") != 0 or json_field(out, "new") != 0:
            status, out, err, timed_out, server = self.run("last run", [])
            self.judge("last run", status, err, timed_out, server, [], None)
            self.check_sink("last run", final=True)
            fetched = json_field(out, "fetched")
            if status == 0 and fetched != 0:
                self.problem("last run", "fetched %s messages, expected nothing new" % fetched)
        self.check_leftovers()

    def check_leftovers(self):
        _, leftovers = self.sink_items()
        leftovers = [p for p in leftovers if not self.excused_leftover(p)]
        if leftovers:
            self.problem("at the end", "left behind: %s" % ", ".join(
                os.path.relpath(p, self.dir) for p in leftovers[:3]))


def allowed_exits(fired):
    """The exit statuses yubin(1) allows for the faults that fired: those
    of the faults that make a run fail if any did, else 0 or those of the
    others."""
    must_fail, may = set(), {0}
    for f in fired:
        codes = set(scen.FAULT_EXITS[f["kind"]])
        if f["kind"] in ("drop", "cut", "sigkill") and re.match(r"(\S+ )?(QUIT|LOGOUT)\b",
                                                     f.get("cmd", ""), re.I):
            codes.add(0)
        if 0 in codes:
            may |= codes
        else:
            must_fail |= codes
    return must_fail or may


def stored_form(sc, body):
    """What the sink must hold for a message: CRLF turned into LF; an mbox
    message ends with a line end."""
    if sc["protocol"] == "pop3" and not body.endswith(b"\n"):
        body += b"\r\n"       # POP3 cannot send a body without a line end
    stored = body.replace(b"\r\n", b"\n")
    if sc["sink"] == "mbox" and not stored.endswith(b"\n"):
        stored += b"\n"
    return stored


def mbox_file(path):
    """One file of an mbox directory: its messages, or a leftover (a lock
    file yubin did not remove)."""
    with open(path, "rb") as f:
        head = f.read(5)
    if head in (b"", b"From "):
        got, _ = fakerun.mbox_contents(path)
        return got, []
    if path.endswith(".lock"):
        return [], [path]
    with open(path, "rb") as f:
        return [f.read()], []


def pattern_matches(pattern, name):
    if pattern.upper() == "INBOX":
        return name.upper() == "INBOX"
    rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, name, re.S) is not None


def run_env(home):
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "YUBIN_TEST_KILL_AT")}
    env["HOME"] = home
    env["LC_ALL"] = "C"
    env["MDA_MAILDIR"] = os.path.join(home, "mda")
    return env


def json_field(out, key):
    try:
        return json.loads(out.decode("utf-8"))["accounts"][0].get(key)
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def tail(err, lines=6):
    text = err.decode("utf-8", "backslashreplace").rstrip("\n").split("\n")
    return " | ".join(text[-lines:])[:1500]


def play(sc, yubin, workroot, keep=False):
    """(problems, log, directory or None) for one scenario."""
    scene = Scene(sc, yubin, workroot)
    try:
        scene.play()
    finally:
        if not keep:
            shutil.rmtree(scene.dir, ignore_errors=True)
    return scene.problems, scene.log, scene.dir if keep else None
