/work/main/tests/fuzz/obj/fuzz_pop3_parse.o: \
  /work/main/tests/fuzz/fuzz_pop3_parse.c /work/main/config.h \
  /work/main/tests/fuzz/fuzz.h /work/main/src/lib/error.h \
  /work/main/src/net/pop3_parse.h
