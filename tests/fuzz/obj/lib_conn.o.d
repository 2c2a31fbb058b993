/work/main/tests/fuzz/obj/lib_conn.o: /work/main/src/net/conn.c \
  /work/main/config.h /work/main/src/net/conn.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/lib/clock.h /work/main/src/lib/log.h \
  /work/main/src/lib/text.h /work/main/src/lib/wipe.h
