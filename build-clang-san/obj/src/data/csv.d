build-clang-san/obj/src/data/csv.o: src/data/csv.c src/data/csv.h \
  src/data/data.h src/core/core.h include/bpfree.h

src/data/csv.h:

src/data/data.h:

src/core/core.h:

include/bpfree.h:
