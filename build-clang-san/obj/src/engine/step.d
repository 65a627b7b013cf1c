build-clang-san/obj/src/engine/step.o: src/engine/step.c \
  src/engine/engine.h src/nn/nn.h src/core/core.h include/bpfree.h \
  src/optim/optim.h

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:
