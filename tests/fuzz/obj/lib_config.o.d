/work/main/tests/fuzz/obj/lib_config.o: /work/main/src/config/config.c \
  /work/main/config.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/lib/grow.h /work/main/src/config/oauth2_preset.h \
  /work/main/src/config/secret.h /work/main/src/lib/text.h
