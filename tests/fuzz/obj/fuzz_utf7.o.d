/work/main/tests/fuzz/obj/fuzz_utf7.o: /work/main/tests/fuzz/fuzz_utf7.c \
  /work/main/config.h /work/main/tests/fuzz/fuzz.h \
  /work/main/src/lib/error.h /work/main/src/net/imap_utf7.h
