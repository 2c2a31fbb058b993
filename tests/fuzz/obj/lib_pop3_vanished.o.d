/work/main/tests/fuzz/obj/lib_pop3_vanished.o: \
  /work/main/src/run/pop3_vanished.c /work/main/config.h \
  /work/main/src/run/pop3_vanished.h /work/main/src/lib/error.h \
  /work/main/src/lib/grow.h
