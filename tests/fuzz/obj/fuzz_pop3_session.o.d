/work/main/tests/fuzz/obj/fuzz_pop3_session.o: \
  /work/main/tests/fuzz/fuzz_pop3_session.c /work/main/config.h \
  /work/main/tests/fuzz/fuzz.h /work/main/src/lib/error.h \
  /work/main/src/lib/log.h /work/main/src/net/pop3.h \
  /work/main/src/config/account.h /work/main/src/config/tls_settings.h \
  /work/main/src/lib/text.h
