/work/main/tests/fuzz/obj/lib_curl_lazy.o: \
  /work/main/src/oauth2/curl_lazy.c /work/main/config.h \
  /work/main/src/oauth2/curl_lazy.h /work/main/src/lib/error.h
