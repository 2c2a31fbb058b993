/work/main/tests/fuzz/obj/lib_imap_parse.o: \
  /work/main/src/net/imap_parse.c /work/main/config.h \
  /work/main/src/net/imap_parse.h /work/main/src/lib/error.h \
  /work/main/src/lib/grow.h /work/main/src/lib/text.h
