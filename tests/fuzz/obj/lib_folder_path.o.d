/work/main/tests/fuzz/obj/lib_folder_path.o: \
  /work/main/src/run/folder_path.c /work/main/config.h \
  /work/main/src/run/folder_path.h /work/main/src/lib/error.h \
  /work/main/src/net/imap_utf7.h /work/main/src/lib/text.h
