/work/main/tests/fuzz/obj/lib_fetch_pop3.o: \
  /work/main/src/run/fetch_pop3.c /work/main/config.h \
  /work/main/src/run/fetch_pop3.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/run/fetch_report.h /work/main/src/sink/sink.h \
  /work/main/src/state/state.h /work/main/src/run/delivery.h \
  /work/main/src/lib/grow.h /work/main/src/run/held.h \
  /work/main/src/run/pop3_vanished.h /work/main/src/lib/log.h \
  /work/main/src/net/pop3.h /work/main/src/net/pop3_parse.h \
  /work/main/src/run/pop3_plan.h /work/main/src/lib/progress.h \
  /work/main/src/config/secret.h /work/main/src/lib/testhook.h
