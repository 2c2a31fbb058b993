/work/main/tests/fuzz/obj/fuzz_imap_parse.o: \
  /work/main/tests/fuzz/fuzz_imap_parse.c /work/main/config.h \
  /work/main/tests/fuzz/fuzz.h /work/main/src/lib/error.h \
  /work/main/src/net/imap_parse.h /work/main/src/net/imap_resp.h \
  /work/main/src/net/imap_utf7.h /work/main/src/sink/sink.h
