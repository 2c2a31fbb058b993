/work/main/tests/fuzz/obj/fuzz_imap_session.o: \
  /work/main/tests/fuzz/fuzz_imap_session.c /work/main/config.h \
  /work/main/src/run/fetch.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/run/fetch_report.h /work/main/src/run/fetch_imap.h \
  /work/main/src/sink/sink.h /work/main/src/state/state.h \
  /work/main/tests/fuzz/fuzz.h /work/main/src/lib/log.h \
  /work/main/src/sink/maildir.h /work/main/src/sink/mbox.h \
  /work/main/src/net/sasl.h /work/main/src/config/credential.h \
  /work/main/src/lib/text.h
