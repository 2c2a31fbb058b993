/work/main/tests/fuzz/obj/lib_showcert.o: /work/main/src/net/showcert.c \
  /work/main/config.h /work/main/src/net/showcert.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h /work/main/src/net/conn.h \
  /work/main/src/net/conn_account.h /work/main/src/lib/text.h
