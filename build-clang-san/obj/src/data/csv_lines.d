build-clang-san/obj/src/data/csv_lines.o: src/data/csv_lines.c \
  src/data/csv.h src/data/data.h src/core/core.h include/bpfree.h

src/data/csv.h:

src/data/data.h:

src/core/core.h:

include/bpfree.h:
