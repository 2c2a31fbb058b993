/work/main/tests/fuzz/obj/lib_imap.o: /work/main/src/net/imap.c \
  /work/main/config.h /work/main/src/net/imap.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h /work/main/src/net/imap_parse.h \
  /work/main/src/net/imap_resp.h /work/main/src/net/conn.h \
  /work/main/src/net/conn_account.h /work/main/src/lib/log.h \
  /work/main/src/net/sasl.h /work/main/src/config/credential.h \
  /work/main/src/net/sasl_engine.h /work/main/src/lib/text.h
