/work/main/tests/fuzz/obj/lib_credential.o: \
  /work/main/src/config/credential.c /work/main/config.h \
  /work/main/src/config/credential.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h
