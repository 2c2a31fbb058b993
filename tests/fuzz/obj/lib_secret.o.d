/work/main/tests/fuzz/obj/lib_secret.o: /work/main/src/config/secret.c \
  /work/main/config.h /work/main/src/config/secret.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h /work/main/src/lib/child.h \
  /work/main/src/lib/clock.h /work/main/src/lib/grow.h \
  /work/main/src/config/credential.h /work/main/src/lib/wipe.h
