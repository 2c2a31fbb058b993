/work/main/tests/fuzz/obj/lib_imap_utf7.o: /work/main/src/net/imap_utf7.c \
  /work/main/config.h /work/main/src/net/imap_utf7.h \
  /work/main/src/lib/error.h /work/main/src/lib/text.h
