/work/main/tests/fuzz/obj/fuzz_config.o: \
  /work/main/tests/fuzz/fuzz_config.c /work/main/config.h \
  /work/main/src/config/account.h /work/main/src/lib/error.h \
  /work/main/src/config/tls_settings.h /work/main/tests/fuzz/fuzz.h
