build-clang-san/obj/src/nn/conv.o: src/nn/conv.c src/nn/nn.h \
  src/core/core.h include/bpfree.h

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:
