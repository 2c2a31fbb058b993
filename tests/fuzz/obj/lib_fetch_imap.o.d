/work/main/tests/fuzz/obj/lib_fetch_imap.o: \
  /work/main/src/run/fetch_imap.c /work/main/config.h \
  /work/main/src/run/fetch_imap.h /work/main/src/config/account.h \
  /work/main/src/lib/error.h /work/main/src/config/tls_settings.h \
  /work/main/src/run/fetch_report.h /work/main/src/sink/sink.h \
  /work/main/src/state/state.h /work/main/src/run/delivery.h \
  /work/main/src/run/folder_path.h /work/main/src/run/held.h \
  /work/main/src/net/imap.h /work/main/src/net/imap_parse.h \
  /work/main/src/net/imap_resp.h /work/main/src/run/imap_plan.h \
  /work/main/src/net/imap_utf7.h /work/main/src/lib/log.h \
  /work/main/src/lib/name_set.h /work/main/src/lib/progress.h \
  /work/main/src/config/secret.h /work/main/src/lib/testhook.h \
  /work/main/src/lib/text.h
