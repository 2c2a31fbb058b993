/work/main/tests/fuzz/obj/lib_oauth2_device.o: \
  /work/main/src/oauth2/oauth2_device.c /work/main/config.h \
  /work/main/src/oauth2/oauth2_flow.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/oauth2/oauth2_token.h \
  /work/main/src/oauth2/oauth2_http.h \
  /work/main/src/oauth2/oauth2_json.h /work/main/src/lib/clock.h \
  /work/main/src/lib/log.h /work/main/src/lib/text.h
