/work/main/tests/fuzz/obj/lib_imap_plan.o: /work/main/src/run/imap_plan.c \
  /work/main/config.h /work/main/src/run/imap_plan.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h
