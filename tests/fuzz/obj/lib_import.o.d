/work/main/tests/fuzz/obj/lib_import.o: /work/main/src/config/import.c \
  /work/main/config.h /work/main/src/config/import.h \
  /work/main/src/lib/error.h /work/main/src/config/import_lex.h \
  /work/main/src/config/import_model.h
