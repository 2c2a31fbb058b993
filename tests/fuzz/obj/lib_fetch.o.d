/work/main/tests/fuzz/obj/lib_fetch.o: /work/main/src/run/fetch.c \
  /work/main/config.h /work/main/src/run/fetch.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h /work/main/src/run/fetch_report.h \
  /work/main/src/run/fetch_imap.h /work/main/src/sink/sink.h \
  /work/main/src/state/state.h /work/main/src/run/fetch_pop3.h \
  /work/main/src/lib/grow.h /work/main/src/lib/log.h \
  /work/main/src/sink/maildir.h /work/main/src/sink/mbox.h \
  /work/main/src/sink/mda.h /work/main/src/oauth2/oauth2.h \
  /work/main/src/net/sasl.h /work/main/src/config/credential.h \
  /work/main/src/config/secret.h
