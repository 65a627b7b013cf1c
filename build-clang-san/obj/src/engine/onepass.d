build-clang-san/obj/src/engine/onepass.o: src/engine/onepass.c \
  src/engine/engine.h src/nn/nn.h src/core/core.h include/bpfree.h \
  src/optim/optim.h

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:
