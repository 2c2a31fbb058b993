"""fakecase.py - reading the fake server's case files (see README).

A case file describes one hostile conversation and what yubin must make
of it: the server's mailbox, rules that say how to answer each client
command, and the expected outcome of the run; then, after "[healthy]",
the same for a second run against a well-behaved server.

This module only parses; fakeserver.py plays a case and fakerun.py runs
yubin against it and checks the outcome.  Stdlib only.
"""

import re

PROTOCOLS = ("pop3", "imap")
TLS_MODES = ("none", "starttls", "implicit")

# Header keys of a run (either section) and whether they may repeat.
RUN_KEYS = {
    "exit": False, "stderr": True, "delivered": False, "seconds": False,
    "server-saw": True, "server-never": True, "deleted": False,
    "capa": True, "folder": True, "args": False, "serve": False,
    "uidvalidity": False, "uidnext": False, "cert": False, "handshake": False,
    "select": False, "local-flags-never": False, "env": True,
}
# Keys that only the first section may set: they hold for both runs.
CASE_KEYS = {
    "protocol": False, "tls": False, "timeout": False, "limit": False,
    "account": True, "deliver": False,
}

ACTIONS = ("send", "line", "sleep", "close", "hang", "bytewise",
           "starttls", "default", "commit", "retr", "fetch", "fetch-no-uid",
           "expunge", "ok")


class CaseError(Exception):
    """A case file that cannot be read; the message names file and line."""


def standard_mail(tag):
    """A small, well-formed message whose Message-ID is unique per tag."""
    return ("Message-ID: <%s@fake.test>\r\n"
            "From: Sender <sender@fake.test>\r\n"
            "To: tester@fake.test\r\n"
            "Subject: message %s\r\n"
            "\r\n"
            "Body of message %s.\r\n" % (tag, tag, tag)).encode("ascii")


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "e": b"\x1b",
            "\\": b"\\", '"': b'"'}


def unescape(text):
    """Backslash escapes (\\r \\n \\t \\0 \\e \\\\ \\" \\xNN) to bytes; the
    rest of text is taken as UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= len(text):
            raise ValueError("a backslash at the end")
        e = text[i + 1]
        if e == "x":
            digits = text[i + 2:i + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                raise ValueError("\\x needs two hex digits")
            out.append(int(digits, 16))
            i += 4
            continue
        if e not in _ESCAPES:
            raise ValueError("unknown escape \\%s" % e)
        out += _ESCAPES[e]
        i += 2
    return bytes(out)


_NAMED = {"CRLF": b"\r\n", "CR": b"\r", "LF": b"\n", "NUL": b"\0",
          "SP": b" ", "TAB": b"\t", "ESC": b"\x1b"}
_TOKEN = re.compile(r'''
    \s*(?:
      "(?P<quoted>(?:[^"\\]|\\.)*)"
    | MAIL\((?P<mail>[^()\s]*)\)
    | EACH\((?P<first>\d+):(?P<last>\d+)\s+"(?P<each>(?:[^"\\]|\\.)*)"\)
    | (?P<named>CRLF|CR|LF|NUL|SP|TAB|ESC)\b
    | (?P<bad>\S+)
    )(?:\s*\*\s*(?P<times>\d+))?''', re.X)


# What one EACH(...) may make: large replies, not a machine's memory.
EACH_COUNT_MAX = 20_000_000
EACH_BYTES_MAX = 1 << 30


def each_bytes(first, last, text, make=True):
    """EACH(FIRST:LAST "TEXT"): TEXT once per number FIRST..LAST, each
    {n} in it the number (a counted listing, a flood of responses).
    With make false, only checked (b"" returned)."""
    if first > last:
        raise ValueError("EACH(%d:%d): the range goes down" % (first, last))
    if last - first + 1 > EACH_COUNT_MAX:
        raise ValueError("EACH over %d copies" % EACH_COUNT_MAX)
    template = unescape(text)
    if (last - first + 1) * (len(template) + 20) > EACH_BYTES_MAX:
        raise ValueError("EACH over %d bytes" % EACH_BYTES_MAX)
    if not make:
        return b""
    parts = template.split(b"{n}")
    return b"".join(str(n).encode().join(parts)
                    for n in range(first, last + 1))


def parse_bytes(expr, subst=None, make=True):
    """A bytes expression: "quoted" strings (escapes as in unescape),
    CRLF CR LF NUL SP TAB ESC, MAIL(tag) for standard_mail(tag),
    EACH(FIRST:LAST "TEXT") (each_bytes), each optionally repeated with
    *N, all concatenated.  subst, if given, is applied to the text of
    quoted strings before unescaping (for {tag}).  With make false, the
    expression is only checked: EACH makes nothing."""
    out = bytearray()
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError("cannot read %r" % expr[pos:])
        pos = m.end()
        if m.group("bad") is not None:
            raise ValueError("unknown word %r" % m.group("bad"))
        if m.group("quoted") is not None:
            text = m.group("quoted")
            if subst:
                text = subst(text)
            piece = unescape(text)
        elif m.group("mail") is not None:
            piece = standard_mail(m.group("mail"))
        elif m.group("each") is not None:
            text = m.group("each")
            if subst:
                text = subst(text)
            piece = each_bytes(int(m.group("first")), int(m.group("last")),
                               text, make)
        else:
            piece = _NAMED[m.group("named")]
        times = int(m.group("times")) if m.group("times") else 1
        if times > 100_000_000:
            raise ValueError("repetition over 10^8")
        out += piece * times
    return bytes(out)


class Message:
    """One message on the fake server."""

    def __init__(self, index, body, attrs):
        self.index = index          # 1-based, in file order (the identity)
        self.body = body            # the bytes the server sends
        self.uidl = attrs.get("uidl", "uidl-%d" % index)
        self.uid = int(attrs["uid"]) if "uid" in attrs else None
        self.folder = unescape(attrs.get("folder", "INBOX")).decode("latin-1")
        self.flags = attrs.get("flags", "")
        # The size LIST / RFC822.SIZE claim; None: the true size.
        self.claimed_size = int(attrs["size"]) if "size" in attrs else None

    def stored(self):
        """What yubin must store: CRLF line ends become LF, nothing else
        changes."""
        return self.body.replace(b"\r\n", b"\n")


class Action:
    def __init__(self, verb, arg, where):
        self.verb = verb
        self.arg = arg
        self.where = where          # "file:line", for errors while playing


class Rule:
    """Actions for client commands that match a regular expression.

    kind: "on" (every match), "once" (the first match only) or "nth"
    (only the nth match).  A rule that does not apply falls through to
    the next rule, and in the end to the server's own behaviour.
    """

    def __init__(self, kind, nth, pattern, where):
        self.kind = kind
        self.nth = nth
        try:
            self.pattern = re.compile(pattern, re.I)
        except re.error as e:
            raise CaseError("%s: bad regular expression: %s" % (where, e))
        self.actions = []
        self.matches = 0
        self.where = where

    def applies(self, command):
        """Does the rule answer this command?  Counts matches."""
        m = self.pattern.search(command)
        if not m:
            return None
        self.matches += 1
        if self.kind == "once" and self.matches != 1:
            return None
        if self.kind == "nth" and self.matches != self.nth:
            return None
        return m


class Run:
    """One run of yubin: the server's mailbox and rules, and what to expect."""

    def __init__(self):
        self.keys = {}
        self.messages = None        # None: inherit (healthy run)
        self.greeting = None        # list of Action, or None: the default
        self.rules = []

    def get(self, key, default=None):
        """The value of a key given once (None if absent)."""
        values = self.keys.get(key)
        return values[-1] if values else default

    def all(self, key):
        return list(self.keys.get(key, []))


class Case:
    def __init__(self, path):
        self.path = path
        self.name = re.sub(r"\.case$", "", path.rsplit("/", 1)[-1])
        self.before = None          # an optional run that sets the scene
        self.first = Run()
        self.healthy = Run()
        self.case_keys = {}

    def key(self, name, default=None):
        values = self.case_keys.get(name)
        return values[-1] if values else default

    @property
    def protocol(self):
        return self.key("protocol")

    @property
    def tls(self):
        return self.key("tls", "none")

    def messages(self, run):
        """The case's messages as a run knows them: its own msg lines,
        else those of the main section."""
        if run.messages is not None:
            return run.messages
        return self.first.messages or []

    def run(self, which):
        return {"before": self.before, "first": self.first,
                "healthy": self.healthy}[which]

    def runs(self):
        """(name, run) in the order they are played."""
        out = [("before", self.before)] if self.before else []
        return out + [("first", self.first), ("healthy", self.healthy)]


def _parse_msg(rest, index, where):
    if "|" not in rest:
        raise CaseError("%s: msg needs '| BYTES'" % where)
    attr_text, body_text = rest.split("|", 1)
    attrs = {}
    for word in attr_text.split():
        if "=" not in word:
            raise CaseError("%s: msg attribute %r is not KEY=VALUE" % (where, word))
        k, v = word.split("=", 1)
        if k not in ("uidl", "uid", "folder", "flags", "size"):
            raise CaseError("%s: unknown msg attribute %r" % (where, k))
        if k in ("uid", "size") and not v.isdigit():
            raise CaseError("%s: msg %s must be a number" % (where, k))
        attrs[k] = v.replace("\\s", " ")
    try:
        body = parse_bytes(body_text)
    except ValueError as e:
        raise CaseError("%s: %s" % (where, e))
    return Message(index, body, attrs)


def _check_action(verb, arg, where):
    if verb not in ACTIONS:
        raise CaseError("%s: unknown action %r" % (where, verb))
    if verb == "sleep" and not re.fullmatch(r"\d+(\.\d+)?", arg):
        raise CaseError("%s: sleep needs seconds" % where)
    if verb == "bytewise" and arg and not re.fullmatch(r"\d+(\.\d+)?", arg):
        raise CaseError("%s: bytewise takes seconds between bytes" % where)
    if verb in ("retr", "fetch", "fetch-no-uid", "expunge") and \
            not re.fullmatch(r"\d+", arg):
        raise CaseError("%s: %s needs a number" % (where, verb))
    if verb == "send":
        try:
            parse_bytes(arg, lambda t: re.sub(r"\{(tag|prevtag|g[1-9])\}", "", t),
                        make=False)
        except ValueError as e:
            raise CaseError("%s: %s" % (where, e))


def parse_case(path):
    """Read a case file; raises CaseError naming file:line."""
    case = Case(path)
    run = case.first
    block = None                    # the list actions are appended to
    sections = set()
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, raw in enumerate(lines, 1):
        where = "%s:%d" % (path, number)
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            if block is None:
                raise CaseError("%s: an action outside a rule" % where)
            verb, _, arg = stripped.partition(" ")
            _check_action(verb, arg.strip() if verb != "line" else arg, where)
            block.append(Action(verb, arg.strip() if verb != "line" else arg, where))
            continue
        block = None
        if stripped in ("[healthy]", "[before]"):
            if stripped in sections:
                raise CaseError("%s: a second %s" % (where, stripped))
            sections.add(stripped)
            if stripped == "[before]":
                case.before = Run()
            run = case.healthy if stripped == "[healthy]" else case.before
            continue
        if stripped == "greeting":
            run.greeting = []
            block = run.greeting
            continue
        m = re.match(r"(on|once|nth (\d+)) (.+)$", stripped)
        if m:
            kind = m.group(1).split()[0]
            rule = Rule(kind, int(m.group(2) or 0), m.group(3).strip(), where)
            run.rules.append(rule)
            block = rule.actions
            continue
        if stripped.startswith("msg ") or stripped == "msg":
            if run.messages is None:
                run.messages = []
            run.messages.append(_parse_msg(stripped[3:], len(run.messages) + 1, where))
            continue
        m = re.match(r"([a-z-]+):\s?(.*)$", stripped)
        if not m:
            raise CaseError("%s: cannot read this line" % where)
        key, value = m.group(1), m.group(2).strip()
        if key in CASE_KEYS:
            if run is not case.first:
                raise CaseError("%s: %s belongs before [healthy]" % (where, key))
            case.case_keys.setdefault(key, []).append(value)
        elif key in RUN_KEYS:
            run.keys.setdefault(key, []).append(value)
        else:
            raise CaseError("%s: unknown key %r" % (where, key))
        if not CASE_KEYS.get(key, RUN_KEYS.get(key)):
            seen = case.case_keys.get(key) if key in CASE_KEYS else run.keys.get(key)
            if len(seen) > 1:
                raise CaseError("%s: %s given twice" % (where, key))
    for _, each in case.runs():
        _assign_uids(case.messages(each))
    _validate(case)
    return case


def _assign_uids(messages):
    """IMAP UIDs not given are 1, 2, ... in file order, per folder."""
    counts = {}
    for msg in messages:
        counts[msg.folder] = counts.get(msg.folder, 0) + 1
        if msg.uid is None:
            msg.uid = counts[msg.folder]


def _validate(case):
    where = case.path
    if case.protocol not in PROTOCOLS:
        raise CaseError("%s: protocol must be pop3 or imap" % where)
    if case.tls not in TLS_MODES:
        raise CaseError("%s: tls must be one of %s" % (where, ", ".join(TLS_MODES)))
    for _, run in case.runs():
        if run.get("cert", "server") not in ("server", "wrong-host", "self-signed"):
            raise CaseError("%s: cert must be server, wrong-host or self-signed" % where)
        if run.get("handshake", "auto") not in ("auto", "manual"):
            raise CaseError("%s: handshake must be auto or manual" % where)
        for setting in run.all("env"):
            if not re.fullmatch(r"YUBIN_TEST_[A-Z0-9_]+=\S*", setting):
                raise CaseError("%s: env must be YUBIN_TEST_NAME=VALUE" % where)
    if case.key("deliver", "maildir") not in ("maildir", "mbox"):
        raise CaseError("%s: deliver must be maildir or mbox" % where)
    for key in ("timeout", "limit"):
        value = case.key(key)
        if value is not None and not value.isdigit():
            raise CaseError("%s: %s must be a number" % (where, key))
    if case.first.get("exit") is None:
        raise CaseError("%s: the case states no exit code" % where)
    if case.first.get("delivered") is None:
        raise CaseError("%s: the case states no delivered: line" % where)
    if not case.first.messages:
        raise CaseError("%s: the case has no messages" % where)
    for _, run in case.runs():
        msgs = case.messages(run)
        delivered = run.get("delivered")
        if delivered is not None:
            parse_index_list(delivered, len(msgs), where)
        for key in ("deleted", "serve"):
            if run.get(key) is not None:
                parse_index_list(run.get(key), len(msgs), where)
        for msg in msgs:
            if case.protocol == "pop3" and not msg.body.endswith(b"\n"):
                raise CaseError("%s: POP3 message %d does not end with a line end"
                                % (where, msg.index))


def parse_index_list(text, count, where="case"):
    """'all', 'none' or message numbers; returns a sorted list (repeats
    kept: '1 1' means delivered twice).  A number with a "?" after it
    (see parse_delivered) is accepted here too, as the number."""
    return sorted(n for n, _ in _index_words(text, count, where))


def parse_delivered(text, count, where="case"):
    """A delivered: line as (required, optional): 'N?' is a message that
    may or may not be there (at most once), e.g. a whole message received
    before the connection broke, which the run may or may not have made
    durable before it stopped."""
    required, optional = [], []
    for n, maybe in _index_words(text, count, where):
        (optional if maybe else required).append(n)
    return sorted(required), sorted(optional)


def _index_words(text, count, where):
    text = text.strip()
    if text == "all":
        return [(n, False) for n in range(1, count + 1)]
    if text == "none":
        return []
    out = []
    for word in text.split():
        maybe = word.endswith("?")
        number = word[:-1] if maybe else word
        if not number.isdigit() or not 1 <= int(number) <= count:
            raise CaseError("%s: %r is not a message number (1..%d)"
                            % (where, word, count))
        out.append((int(number), maybe))
    return out
