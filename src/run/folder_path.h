/*
 * folder_path.h - where a server folder goes under the local root.
 *
 * Maps an IMAP folder name (UTF-8, already decoded from modified UTF-7)
 * and its hierarchy delimiter to a path relative to the account's
 * Maildir root or mbox directory.  Pure: it looks at no file.  VERBATIM
 * and MBOX paths are UTF-8; MAILDIRPP paths are ASCII (see below).
 *
 * Layouts:
 *   VERBATIM   a tree of Maildirs: "Archive/2024" -> "Archive/2024" (with
 *              delimiter "." -> the same).  INBOX (any case) is the root
 *              Maildir itself ("") when inbox_at_root, else "INBOX";
 *              children of INBOX are "INBOX/Sub" either way.  A
 *              component named tmp, new or cur would be a Maildir's own
 *              directory: its first byte is escaped ("tmp" -> "\74mp",
 *              "new" -> "\6eew", "cur" -> "\63ur").  Compared exactly, so
 *              "New" keeps its path (on a case-insensitive file system it
 *              is not caught).
 *   MAILDIRPP  Maildir++ as Dovecot and Courier lay it out: INBOX is the
 *              root (""), every other folder one directory
 *              ".Comp1.Comp2" under it.  Children of INBOX become
 *              ".INBOX.Sub" (callers wanting Courier's ".Sub" for
 *              "INBOX.Sub" strip the "INBOX." namespace prefix first).
 *              Components are stored in modified UTF-7, as Dovecot and
 *              Courier store Maildir++ names (U+00FC as in "Entw\xc3\xbcrfe"
 *              -> ".Entw&APw-rfe"),
 *              then bytes Maildir++ cannot hold in a component are
 *              escaped as Dovecot's listescape plugin does with its
 *              default escape character: "." -> "\2e", "\" -> "\5c", and
 *              a leading "~" of the name -> "\7e" (lowercase hex).
 *   MBOX       one mbox file per folder under a directory: "Archive" ->
 *              "Archive", INBOX -> "INBOX", and a folder's children live
 *              in a directory named after it plus ".sbd", as Thunderbird
 *              does, so a folder can hold both mail and subfolders:
 *              "Archive/2024" -> "Archive.sbd/2024".  So that no folder's
 *              file is taken for one the sink makes beside it, the "." of
 *              a component ending in ".lock" (a dotlock) or ".sbd" (a
 *              subfolder directory) and the leading "." of one starting
 *              with ".yubin-" (temporary files) are escaped, in any case:
 *              "A.lock" -> "A\2elock", "x.SBD" -> "x\2eSBD".  The last
 *              component plus ".lock", and every other plus ".sbd", must
 *              fit FOLDER_COMPONENT_MAX.
 *
 * The escape of VERBATIM and MBOX is reversible: "\HH" (two hex digits)
 * stands for the byte 0xHH, and any other "\" for itself.  A "\" of the
 * name that is followed by two hex digits (either case) is therefore
 * itself escaped as "\5c"; any other "\" is kept, so a name without
 * "\HH" and without a colliding part keeps the path it had before
 * escaping existed.  Two names never map to one path, and no escaped
 * component equals a name the sink uses.
 *
 * Refused in every layout (YB_ERR_PROTOCOL, the message naming the
 * folder with its bytes sanitized): an empty name; a delimiter that is
 * not a visible ASCII character (0x21..0x7e); an empty component (so a leading delimiter, i.e.
 * an absolute path, a trailing or a doubled one); "." and ".."; a "/"
 * inside a component (only possible when the delimiter is not "/");
 * invalid UTF-8; C0 and C1 control characters and DEL; a component
 * longer than FOLDER_COMPONENT_MAX bytes or a path longer than
 * FOLDER_PATH_MAX bytes (after escaping).  A refused folder can be
 * skipped with a warning; nothing outside the root is ever named.
 */
#ifndef YUBIN_FOLDER_PATH_H
#define YUBIN_FOLDER_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "error.h"

#define FOLDER_COMPONENT_MAX 255
#define FOLDER_PATH_MAX 4096

enum folder_layout {
	FOLDER_LAYOUT_VERBATIM,
	FOLDER_LAYOUT_MAILDIRPP,
	FOLDER_LAYOUT_MBOX,
};

struct folder_path_opts {
	enum folder_layout layout;
	bool inbox_at_root; /* VERBATIM only: INBOX is the root itself */
};

/*
 * Map name[0..len) with delimiter ('\0': the server said NIL, a flat
 * namespace; the name is then one component) to a relative path in out
 * (at least FOLDER_PATH_MAX + 1 bytes; NUL-terminated; "" means the root
 * itself).  *out_len gets its length.  YB_ERR_PROTOCOL for a refused name
 * (see above), YB_ERR_INTERNAL for out_size too small, a NULL argument or
 * running out of memory.  On failure out holds "".
 */
int folder_path_map(const char *name, size_t len, char delimiter,
		    const struct folder_path_opts *opts, char *out,
		    size_t out_size, size_t *out_len, struct yb_error *err);

/* A configured folder that is a LIST pattern (holds * or %). */
bool folder_is_pattern(const char *configured);

/* The account names one folder and no pattern: its messages go to the
   deliver path itself, not to a tree under it. */
bool folder_path_single(const struct account *account);

/* The options the account's deliver: and layout: give folder_path_map. */
struct folder_path_opts folder_path_opts_for(const struct account *account);

#endif
