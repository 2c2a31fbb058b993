/work/main/tests/fuzz/obj/lib_pop3_parse.o: \
  /work/main/src/net/pop3_parse.c /work/main/config.h \
  /work/main/src/net/pop3_parse.h /work/main/src/lib/text.h
