/work/main/tests/fuzz/obj/lib_mda.o: /work/main/src/sink/mda.c \
  /work/main/config.h /work/main/src/sink/mda.h \
  /work/main/src/lib/error.h /work/main/src/sink/sink.h \
  /work/main/src/lib/child.h /work/main/src/lib/clock.h \
  /work/main/src/sink/envelope.h /work/main/src/lib/fileio.h \
  /work/main/src/lib/log.h /work/main/src/config/secret.h \
  /work/main/src/config/account.h /work/main/src/config/tls_settings.h \
  /work/main/src/sink/sink_batch.h /work/main/src/lib/testhook.h \
  /work/main/src/lib/text.h
