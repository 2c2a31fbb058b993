#!/usr/bin/env python3
"""fakerun.py - play one case file against yubin and check the outcome.

  fakerun.py count CASE...
      print "NAME COUNT" per case: how many checks running it makes
      (the same number whatever happens, so the TAP plan is known first)
  fakerun.py run CASE --workdir DIR --yubin YUBIN --tls-dir DIR
      play every run of the case (an optional "before" run, the hostile
      run, the healthy run, then a last run that must find nothing new)
      and print one result per check: "ok<TAB>description" or
      "not ok<TAB>description<TAB>why" (newlines in why as \\n).

Each run starts fakeserver.py for that part of the case, writes an
account file pointing yubin at it, runs yubin (bounded by a timeout, in
its own process group) and compares what happened with what the case
expects.  See README for the checks.  Stdlib only.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# No __pycache__ in the source tree (it may be read-only, as in distcheck).
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import fakecase  # noqa: E402

PASSWORD = "fake-Secret-42"
DEFAULT_SECONDS = 20        # a run must end within this, unless the case says
DEFAULT_LIMIT = 30          # the server's own time limit per run
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer", "MemorySanitizer")
# Characters a terminal would act on: C0 controls (but LF and TAB), DEL,
# C1 controls (U+0080..U+009F), and a raw byte 0x80..0x9F that is not part
# of UTF-8 (an 8-bit terminal reads it as a C1 control: 0x9B is CSI).
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\udc80-\udc9f]")


def unsafe_char(data):
    """(offset in characters, the character) of the first unsafe one."""
    text = data.decode("utf-8", "surrogateescape")
    m = UNSAFE_CHARS.search(text)
    return (m.start(), text[max(0, m.start() - 40):m.start() + 20]) if m else None


# ---------------------------------------------------------------- plan


def checks_of_run(case, name, run):
    """The descriptions of a run's checks, in order (no I/O)."""
    tag = {"before": "before", "first": "hostile run", "healthy": "healthy run"}[name]
    out = ["%s: exit %s" % (tag, expected_exit(name, run)),
           "%s: no crash, no sanitizer report, no hang" % tag]
    if name == "first":
        out.append("%s: finished within %ss" % (tag, run.get("seconds") or DEFAULT_SECONDS))
        if expected_exit(name, run) != 0:
            out.append("%s: the error names the account and the host" % tag)
        for text in run.all("stderr"):
            out.append("%s: stderr mentions %r" % (tag, text))
    if name != "before":
        out.append("%s: output holds no raw control character and no password" % tag)
    out.append("%s: delivered %s, each once and byte for byte, nothing torn or stray"
               % (tag, run.get("delivered") or "all"))
    for text in run.all("server-saw"):
        out.append("%s: the server saw a command matching %r" % (tag, text))
    for text in run.all("server-never"):
        out.append("%s: the server never saw a command matching %r" % (tag, text))
    if run.get("deleted") is not None:
        out.append("%s: deleted on the server: %s" % (tag, run.get("deleted")))
    if run.get("local-flags-never") is not None:
        out.append("%s: no Maildir file carries a flag of %s"
                   % (tag, run.get("local-flags-never")))
    if name == "healthy":
        out.append("a last run finds nothing new and delivers nothing")
    return out


def expected_exit(name, run):
    value = run.get("exit")
    return int(value) if value is not None else 0


def all_checks(case):
    out = []
    for name, run in case.runs():
        out += checks_of_run(case, name, run)
    return out


# ---------------------------------------------------------------- running


class Results:
    def __init__(self, case):
        self.case = case
        self.planned = all_checks(case)
        self.done = 0

    def emit(self, ok, desc, why=""):
        want = self.planned[self.done] if self.done < len(self.planned) else None
        if want != desc:
            raise RuntimeError("check %r out of order (expected %r)" % (desc, want))
        self.done += 1
        line = "%s\t%s - %s" % ("ok" if ok else "not ok", self.case.name, desc)
        if not ok and why:
            # One line, and nothing a terminal would act on (the TAP log may
            # end up on one): backslashes doubled, newlines and other
            # controls as escapes that run.sh turns back with printf %b.
            why = why.replace("\\", "\\\\").replace("\n", "\\n")
            why = re.sub("[\x00-\x1f\x7f-\x9f]",
                         lambda m: "\\\\x%02x" % ord(m.group(0)), why)
            line += "\t" + why
        print(line, flush=True)

    def fail_rest(self, why):
        while self.done < len(self.planned):
            self.emit(False, self.planned[self.done], why)


class Outcome:
    """What one yubin run did."""

    def __init__(self):
        self.status = None          # exit status; negative: signal
        self.stderr = b""
        self.stdout = b""
        self.seconds = 0.0
        self.timed_out = False
        self.report = {}


def start_server(args, case, name, workdir, limit, tag):
    port_file = os.path.join(workdir, "%s.port" % tag)
    report = os.path.join(workdir, "%s.report.json" % tag)
    for path in (port_file, report):
        if os.path.exists(path):
            os.unlink(path)
    cmd = [sys.executable, os.path.join(HERE, "fakeserver.py"), "--case", case.path,
           "--run", name, "--port-file", port_file, "--report", report,
           "--mailbox-state", os.path.join(workdir, "mailbox.json"),
           "--tls-dir", args.tls_dir,
           "--limit", str(limit)]
    log_path = os.path.join(workdir, "%s.server.log" % tag)
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                return proc, int(f.read()), report
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    stop_server(proc)
    with open(log_path, "rb") as f:
        raise RuntimeError("fakeserver did not start: %s"
                           % f.read().decode("utf-8", "replace")[-400:])


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def yaml_quote(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def write_config(case, workdir, port, args):
    lines = ["accounts:",
             "  - name: %s" % account_name(case),
             "    protocol: %s" % case.protocol,
             "    host: 127.0.0.1",
             "    port: %d" % port,
             "    tls: %s" % case.tls,
             "    user: tester",
             "    password: %s" % yaml_quote(PASSWORD),
             "    timeout: %s" % case.key("timeout", "10"),
             "    state_dir: %s" % yaml_quote(os.path.join(workdir, "state"))]
    if case.tls == "none":
        lines.append("    allow_plaintext: true")
    else:
        lines.append("    tls_ca_file: %s" % yaml_quote(os.path.join(args.tls_dir, "ca.pem")))
    for extra in case.case_keys.get("account", []):
        lines.append("    " + extra)
    sink = case.key("deliver", "maildir")
    lines += ["    deliver:",
              "      %s: %s" % (sink, yaml_quote(sink_path(case, workdir)))]
    path = os.path.join(workdir, "config.yaml")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def sink_path(case, workdir):
    return os.path.join(workdir, "mbox" if case.key("deliver") == "mbox" else "Maildir")


def account_name(case):
    return ("fake-" + re.sub(r"[^A-Za-z0-9._-]", "-", case.name))[:64]


def run_yubin(args, case, name, run, workdir, tag, extra_args=()):
    """Start the server for this run, run yubin once, stop the server."""
    limit = int(case.key("limit", str(DEFAULT_LIMIT)))
    proc, port, report_path = start_server(args, case, name, workdir, limit, tag)
    out = Outcome()
    try:
        config = write_config(case, workdir, port, args)
        cmd = [args.yubin, "-c", config, "--json"] + list(extra_args)
        cmd += (run.get("args") or "").split()
        env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env.pop(var, None)
        env["HOME"] = workdir
        env["LC_ALL"] = "C"
        for setting in run.all("env"):
            name, _, value = setting.partition("=")
            env[name] = value
        started = time.monotonic()
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, env=env,
                                 start_new_session=True)
        try:
            out.stdout, out.stderr = child.communicate(timeout=limit + 15)
        except subprocess.TimeoutExpired:
            out.timed_out = True
            os.killpg(child.pid, signal.SIGKILL)
            out.stdout, out.stderr = child.communicate()
        out.seconds = time.monotonic() - started
        out.status = child.returncode
    finally:
        stop_server(proc)
    for suffix, data in (("out", out.stdout), ("err", out.stderr)):
        with open(os.path.join(workdir, "%s.%s" % (tag, suffix)), "wb") as f:
            f.write(data)
    try:
        with open(report_path) as f:
            out.report = json.load(f)
    except (OSError, ValueError):
        out.report = {}
    return out


def summary(out, lines=12):
    # Only the tail is shown: decode no more of a long trace than that.
    tail = out.stderr[-(lines + 1) * 1024:]
    err = tail.decode("utf-8", "backslashreplace").rstrip("\n").split("\n")
    text = "\n".join(err[-lines:])
    if len(text) > 3000:
        text = text[:3000] + "..."
    return "exit %s after %.1fs%s; stderr:\n%s" % (
        out.status, out.seconds, " (killed: hung)" if out.timed_out else "", text)


# ---------------------------------------------------------------- checks


def maildir_names(root):
    """The names of the files in every new/ and cur/ under root."""
    return [name for dirpath, _, filenames in os.walk(root)
            if os.path.basename(dirpath) in ("new", "cur") for name in filenames]


def maildir_contents(root):
    """Every file in a new/ or cur/ under root (Maildir trees too), and
    every file in a tmp/."""
    published, leftovers = [], []
    for dirpath, _, filenames in os.walk(root):
        base = os.path.basename(dirpath)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if base in ("new", "cur"):
                with open(path, "rb") as f:
                    published.append(f.read())
            elif base == "tmp":
                leftovers.append(path)
    return published, leftovers


# mboxrd: one ">" more on every line matching ^>*From in a message.
MBOX_UNQUOTE = re.compile(rb"^>(>*From )", re.M)


def mbox_contents(path):
    """The messages of an mbox yubin wrote: each "From " line starts one,
    and one blank line ends it.  A torn or unterminated message shows up
    as bytes that match no message of the case."""
    if not os.path.exists(path):
        return [], []
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return [], []
    leftovers = [p for p in (path + ".lock",) if os.path.exists(p)]
    if not data.startswith(b"From "):
        return [data], leftovers
    messages = []
    for part in re.split(rb"(?m)^From [^\n]*\n", data)[1:]:
        if part.endswith(b"\n\n"):
            part = part[:-1]
        else:
            part += b"<no blank line after the message>"
        messages.append(MBOX_UNQUOTE.sub(rb"\1", part))
    return messages, leftovers


def sink_contents(case, workdir):
    if case.key("deliver") == "mbox":
        return mbox_contents(sink_path(case, workdir))
    return maildir_contents(sink_path(case, workdir))


def expected_stored(case, msg):
    body = msg.stored()
    if case.key("deliver") == "mbox" and not body.endswith(b"\n"):
        body += b"\n"
    return body


def check_delivered(case, run, workdir, spec):
    msgs = case.messages(run)
    required, optional = fakecase.parse_delivered(spec or "all", len(msgs))
    expected, maybe = {}, {}
    for index in required:
        body = expected_stored(case, msgs[index - 1])
        expected[body] = expected.get(body, 0) + 1
    for index in optional:
        body = expected_stored(case, msgs[index - 1])
        maybe[body] = maybe.get(body, 0) + 1
    published, leftovers = sink_contents(case, workdir)
    got = {}
    for body in published:
        got[body] = got.get(body, 0) + 1
    problems = []
    names = {expected_stored(case, msgs[i - 1]): i for i in range(1, len(msgs) + 1)}
    for body in set(expected) | set(got):
        e, g = expected.get(body, 0), got.get(body, 0)
        if e <= g <= e + maybe.get(body, 0):
            continue
        label = ("message %d" % names[body]) if body in names else \
            "a file that is no message of the case (%d bytes: %r)" % (len(body), body[:60])
        problems.append("%s: %d in the sink, expected %d" % (label, g, e))
    if leftovers:
        problems.append("left behind: %s" % ", ".join(leftovers[:3]))
    strays = outside_the_sink(workdir)
    if strays:
        problems.append("written outside the sink and state: %s" % ", ".join(strays[:5]))
    return (not problems), "\n".join(sorted(problems))


# What the runner itself keeps in a case's directory.
RUNNER_FILES = re.compile(r"(config\.yaml|mailbox\.json|[a-z]+\.(port|report\.json|"
                          r"server\.log|out|err))(\.tmp)?$")


def outside_the_sink(workdir):
    """Anything in the case's directory that is neither the Maildir, the
    state directory nor a file of the runner (HOME is this directory, so
    a folder name that escapes the Maildir lands here)."""
    return sorted(name for name in os.listdir(workdir)
                  if name not in ("Maildir", "mbox", "state") and not RUNNER_FILES.match(name))


def commands_matching(out, pattern):
    rx = re.compile(pattern, re.I)
    return [c for c in out.report.get("commands", []) if rx.search(c)]


def sanitizer_report(out):
    text = out.stderr.decode("utf-8", "replace")
    return next((m for m in SANITIZER_MARKS if m in text), None)


def check_run(results, case, name, run, out, workdir):
    tag = {"before": "before", "first": "hostile run", "healthy": "healthy run"}[name]
    want = expected_exit(name, run)
    results.emit(out.status == want, "%s: exit %s" % (tag, want),
                 "expected exit %s; %s" % (want, summary(out)))
    mark = sanitizer_report(out)
    crashed = out.status is None or out.status < 0 or out.status >= 128
    ok = not (mark or crashed or out.timed_out)
    why = ("hung; killed after %.0fs" % out.seconds if out.timed_out else
           "sanitizer report (%s)" % mark if mark else
           "killed by signal %s" % -out.status if out.status is not None and out.status < 0 else
           "exit status %s looks like a crash" % out.status)
    results.emit(ok, "%s: no crash, no sanitizer report, no hang" % tag,
                 why + "; " + summary(out, 30))
    stderr = out.stderr.decode("utf-8", "backslashreplace")
    if name == "first":
        seconds = float(run.get("seconds") or DEFAULT_SECONDS)
        results.emit(out.seconds <= seconds and not out.timed_out,
                     "%s: finished within %ss" % (tag, run.get("seconds") or DEFAULT_SECONDS),
                     "took %.1fs%s" % (out.seconds, " and was killed" if out.timed_out else ""))
        account = account_name(case)
        # One search over the text: a trace may have millions of lines.
        reported = re.findall(r"^yubin: %s: (?:error|warning): .*$" % re.escape(account),
                              stderr, re.M)
        if want != 0:
            errors = [line for line in reported if ": error: " in line]
            ok = any("127.0.0.1" in line for line in errors)
            results.emit(ok, "%s: the error names the account and the host" % tag,
                         "no 'yubin: %s: error: ...127.0.0.1...' line; %s"
                         % (account, summary(out)))
        for text in run.all("stderr"):
            ok = any(text.lower() in line.lower() for line in reported)
            results.emit(ok, "%s: stderr mentions %r" % (tag, text),
                         "no error or warning line mentions it; %s" % summary(out))
    if name != "before":
        why = ""
        for stream, data in (("stderr", out.stderr), ("stdout", out.stdout)):
            bad = unsafe_char(data)
            if bad and not why:
                why = "a raw control character in %s at offset %d: %r" % ((stream,) + bad)
        if not why and (PASSWORD.encode() in out.stderr or PASSWORD.encode() in out.stdout):
            why = "the password appears in the output"
        results.emit(not why, "%s: output holds no raw control character and no password"
                     % tag, why)
    ok, why = check_delivered(case, run, workdir, run.get("delivered"))
    results.emit(ok, "%s: delivered %s, each once and byte for byte, nothing torn or stray"
                 % (tag, run.get("delivered") or "all"), why + "\n" + summary(out))
    for text in run.all("server-saw"):
        results.emit(bool(commands_matching(out, text)),
                     "%s: the server saw a command matching %r" % (tag, text),
                     "commands: %r" % out.report.get("commands", [])[:40])
    for text in run.all("server-never"):
        seen = commands_matching(out, text)
        results.emit(not seen, "%s: the server never saw a command matching %r" % (tag, text),
                     "it saw: %r" % seen[:5])
    if run.get("deleted") is not None:
        msgs = case.messages(run)
        want_deleted = fakecase.parse_index_list(run.get("deleted"), len(msgs))
        got = sorted(set(out.report.get("deleted", [])))
        results.emit(got == want_deleted,
                     "%s: deleted on the server: %s" % (tag, run.get("deleted")),
                     "the server deleted %r, expected %r" % (got, want_deleted))
    if run.get("local-flags-never") is not None:
        letters = run.get("local-flags-never")
        flagged = [name for name in maildir_names(sink_path(case, workdir))
                   if set(name.partition(":2,")[2]) & set(letters)]
        results.emit(not flagged, "%s: no Maildir file carries a flag of %s" % (tag, letters),
                     "flagged: %r" % flagged[:5])


def check_last_run(results, case, out, workdir, before):
    try:
        report = json.loads(out.stdout.decode("utf-8"))
        account = report["accounts"][0]
        fetched, new = account.get("fetched"), account.get("new")
    except (ValueError, KeyError, IndexError, TypeError):
        fetched = new = "<no JSON>"
    published, _ = sink_contents(case, workdir)
    ok = out.status == 0 and fetched == 0 and new == 0 and sorted(published) == before
    results.emit(ok, "a last run finds nothing new and delivers nothing",
                 "exit %s, new %s, fetched %s, sink %s; %s" % (
                     out.status, new, fetched,
                     "unchanged" if sorted(published) == before else "changed",
                     summary(out)))


def run_case(args, path):
    case = fakecase.parse_case(path)
    results = Results(case)
    workdir = os.path.join(args.workdir, case.name)
    os.makedirs(workdir, exist_ok=True)
    try:
        for name, run in case.runs():
            extra = ("-vvv",) if name == "first" else ()
            out = run_yubin(args, case, name, run, workdir, name, extra)
            check_run(results, case, name, run, out, workdir)
        before, _ = sink_contents(case, workdir)
        out = run_yubin(args, case, "healthy", case.healthy, workdir, "last")
        check_last_run(results, case, out, workdir, sorted(before))
    except Exception as e:  # the runner itself broke: every check left fails
        results.fail_rest("the runner failed: %s: %s" % (type(e).__name__, e))
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    count = sub.add_parser("count")
    count.add_argument("cases", nargs="+")
    run = sub.add_parser("run")
    run.add_argument("case")
    run.add_argument("--workdir", required=True)
    run.add_argument("--yubin", required=True)
    run.add_argument("--tls-dir", required=True)
    args = parser.parse_args()
    if args.what == "count":
        status = 0
        for path in args.cases:
            try:
                case = fakecase.parse_case(path)
                print("%s %d" % (path, len(all_checks(case))))
            except (fakecase.CaseError, OSError) as e:
                print("%s 0 %s" % (path, e))
                status = 1
        sys.exit(status)
    run_case(args, args.case)


if __name__ == "__main__":
    main()
