/work/main/tests/fuzz/obj/lib_oauth2.o: /work/main/src/oauth2/oauth2.c \
  /work/main/config.h /work/main/src/oauth2/oauth2.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h /work/main/src/lib/log.h \
  /work/main/src/oauth2/oauth2_cache.h \
  /work/main/src/oauth2/oauth2_json.h \
  /work/main/src/oauth2/oauth2_token.h \
  /work/main/src/oauth2/oauth2_http.h /work/main/src/config/secret.h
