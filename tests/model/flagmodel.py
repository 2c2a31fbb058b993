"""flagmodel.py - the flag oracle of the model test (see README).

sync_flags: both, as yubin.yaml(5) states it, flag by flag: a flag one
side changed since the two last agreed takes that side's value; where
neither changed it keeps the agreed value (two sides that both changed
a flag from the same agreed value changed it to the same value, so the
rule never has to choose).  This file knows nothing of yubin's code: it
only watches the Maildir's info letters and the server's flags.

What "last agreed" is, the oracle cannot read from yubin's state; it
keeps for each message and flag the values yubin may have recorded as
agreed (cands): the value at delivery; after a clean run (exit 0, no
fault, no kill), the one value both sides then hold; and, while runs
were killed or faulted, every value both sides held at once when a run
began or ended, or when another client changed the flag during a run.
The result after the final clean runs must be the rule's for one of
them.  Stdlib only.
"""

import os

# The letters sync_flags: both carries, and their IMAP names.
LETTERS = "DFRS"
IMAP_NAME = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "D": "\\Draft"}
LETTER_OF = {name.upper(): letter for letter, name in IMAP_NAME.items()}


def rule(agreed, local, server):
    """The documented result for one flag: the side that changed wins."""
    return local if local != agreed else server


def letters_of(path):
    """The info letters of a Maildir file: "" in new/."""
    name = os.path.basename(path)
    if os.path.basename(os.path.dirname(path)) != "cur" or ":2," not in name:
        return ""
    return name.rsplit(":2,", 1)[1]


def set_letter(path, letter, on):
    """Rename the file as a mail reader does (new/ moves to cur/); other
    letters are kept, the letters stay sorted.  The new path."""
    old = letters_of(path)
    letters = set(old) | {letter} if on else set(old) - {letter}
    name = os.path.basename(path)
    base = name.rsplit(":2,", 1)[0] if ":2," in name else name
    target = os.path.join(os.path.dirname(os.path.dirname(path)), "cur",
                          base + ":2," + "".join(sorted(letters)))
    if target != path:
        os.rename(path, target)
    return target


def maildir_files(root):
    """{content: [paths]} of every file in a new/ or cur/ under root."""
    out = {}
    for dirpath, _, names in os.walk(root):
        if os.path.basename(dirpath) not in ("new", "cur"):
            continue
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    out.setdefault(f.read(), []).append(path)
            except OSError:
                pass
    return out


class FlagOracle:
    """cands[mid][letter]: the values yubin may hold as agreed."""

    def __init__(self):
        self.cands = {}
        self.open = {}          # (mid, letter) -> a value a push may have sent

    def observe(self, local, server, clean=False, ended=False, excused=False):
        """local: {mid: letters}, server: {mid: letters} of the messages
        both sides hold, when a run begins or has ended (ended), cleanly
        or not.  A message seen for the first time takes what it holds
        on both sides (one value unless another client changed it during
        the run that delivered it).

        excused: the run may have left a push open (the local value then,
        where the sides differed); when a later run finds the server
        holding that value, yubin may count it as agreed though another
        client set it (see README: flag-open-push, flag-refused)."""
        if clean:
            self.open = {}
        for (mid, c), value in self.open.items():
            if not ended and mid in server and (c in server[mid]) == value:
                self.cands[mid][c].add(value)
        for mid in local.keys() & server.keys():
            first = mid not in self.cands
            per = self.cands.setdefault(mid, {c: set() for c in LETTERS})
            for c in LETTERS:
                on_l, on_s = c in local[mid], c in server[mid]
                if first:
                    per[c] |= {on_l, on_s}
                elif on_l == on_s and clean:
                    per[c] = {on_l}
                elif on_l == on_s:
                    per[c].add(on_l)
                elif ended and excused:
                    self.open[(mid, c)] = on_l

    def agreed_before(self, mid, letter, value):
        """Another client changed a flag during a run: if yubin had
        already pushed and recorded it, the value before was agreed."""
        if mid in self.cands:
            self.cands[mid][letter].add(value)

    def expect(self, local, server):
        """{(mid, letter): set of allowed final values}."""
        out = {}
        for mid in local.keys() & server.keys() & self.cands.keys():
            for c in LETTERS:
                on_l, on_s = c in local[mid], c in server[mid]
                out[(mid, c)] = {rule(b, on_l, on_s) for b in self.cands[mid][c]}
        return out
