/work/main/tests/fuzz/obj/lib_sasl_engine.o: \
  /work/main/src/net/sasl_engine.c /work/main/config.h \
  /work/main/src/net/sasl_engine.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/net/sasl.h /work/main/src/config/credential.h \
  /work/main/src/lib/text.h
