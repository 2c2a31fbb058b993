/work/main/tests/fuzz/obj/lib_import_mbsync.o: \
  /work/main/src/config/import_mbsync.c /work/main/config.h \
  /work/main/src/lib/grow.h /work/main/src/config/import_lex.h \
  /work/main/src/lib/error.h /work/main/src/config/import_model.h
