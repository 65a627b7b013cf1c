build-clang-san/obj/src/data/cifar.o: src/data/cifar.c src/data/data.h \
  src/core/core.h include/bpfree.h

src/data/data.h:

src/core/core.h:

include/bpfree.h:
