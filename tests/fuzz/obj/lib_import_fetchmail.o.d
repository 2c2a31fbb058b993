/work/main/tests/fuzz/obj/lib_import_fetchmail.o: \
  /work/main/src/config/import_fetchmail.c /work/main/config.h \
  /work/main/src/config/import_model.h /work/main/src/lib/error.h
