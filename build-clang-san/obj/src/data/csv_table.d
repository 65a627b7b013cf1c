build-clang-san/obj/src/data/csv_table.o: src/data/csv_table.c \
  src/data/csv.h src/data/data.h src/core/core.h include/bpfree.h

src/data/csv.h:

src/data/data.h:

src/core/core.h:

include/bpfree.h:
